/**
 * The outputs of a bake: checked free before any work starts, and published atomically at the end.
 */
import { link, lstat, rename, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BakeError } from '../core/errors.ts';
import type { BakePlan } from './plan.ts';

/** Every file the plan publishes: the generic image and the vendor outputs. */
export const plannedOutputs = (plan: BakePlan): string[] => [
  plan.output,
  ...plan.vendors.flatMap((vendor) => vendor.outputs),
];

/** lstat: a symlink at the output (dangling or not) is an existing output, never followed. */
export async function ensureOutputFree(path: string, force: boolean): Promise<void> {
  const found = await lstat(path).catch(() => undefined);
  if (found?.isDirectory())
    throw new BakeError('exists', `${path} is a directory`, 'remove it, or --output another directory');
  if (found && !force)
    throw new BakeError(
      'exists',
      `${path} already exists`,
      'pass --force to replace it, or --output another directory',
    );
}

export async function ensureOutputsFree(plan: BakePlan): Promise<void> {
  for (const output of plannedOutputs(plan)) await ensureOutputFree(output, plan.request.force);
}

/** Atomic publish: rename replaces (--force); link fails if the output appeared meanwhile, never clobbering it. */
async function publishFile(from: string, to: string, force: boolean): Promise<void> {
  if (force) return rename(from, to);
  try {
    await link(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') await ensureOutputFree(to, false);
    throw error;
  }
  await unlink(from);
}

/** Moves the work image and the staged vendor files into the output directory; returns their paths. */
export async function publish(plan: BakePlan, workImage: string, vendorFiles: readonly string[]): Promise<string[]> {
  const outputs = [plan.output];
  await publishFile(workImage, plan.output, plan.request.force);
  for (const file of vendorFiles) {
    const target = join(plan.request.outputDir, basename(file));
    await publishFile(file, target, plan.request.force);
    outputs.push(target);
  }
  return outputs;
}
