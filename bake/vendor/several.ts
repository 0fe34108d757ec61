/**
 * Several vendor images from one bake (`--vendor azure,gce,qemu_uefi`): the baked generic image is
 * copied once per vendor and each copy made into its vendor image. Native jobs run side by side (at most
 * --jobs at once), SDK jobs one after the other (each runs a whole SDK container). A vendor that fails
 * does not stop the others: every outcome is returned, and vendorsFailedError reports the failures.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import { allFinishedLimited } from '../core/all-finished.ts';
import type { Endpoints } from '../core/endpoints.ts';
import { BakeError, type ErrorKind, isBakeError } from '../core/errors.ts';
import { copyImage } from '../flatcar/base-image.ts';
import { fetchReleaseFile } from '../flatcar/release-files.ts';
import { produceVendorImage, type VendorJob } from './index.ts';
import { filesWithFallback, planVendor, releaseFilesFor, requireFormat, type VendorPlan } from './plan.ts';

export interface SeveralVendorsJob extends Omit<VendorJob, 'vendor' | 'image' | 'workDir' | 'outputDir'> {
  vendors: readonly string[];
  /** The baked generic image; only read (each vendor gets its own copy). */
  image: string;
  /** Private temp dir on the output filesystem. */
  workDir: string;
  /** Where the finished vendor files are staged, one subdirectory per vendor. */
  stageDir: string;
}

export interface VendorOutcome {
  vendor: string;
  /** The staged files, when the vendor image was made. */
  files?: string[];
  error?: unknown;
}

/** `--vendor a,b --vendor c` → [a, b, c]: known order, no duplicates, `generic` dropped (always made). */
export function vendorList(values: readonly string[]): string[] {
  const names = values
    .flatMap((value) => value.split(','))
    .map((name) => name.trim())
    .filter(Boolean);
  return [...new Set(names)].filter((name) => name !== 'generic');
}

export type SeveralVendorsPlan = Array<VendorPlan & { vendor: string }>;

/** The plan of each vendor, for --dry-run and the output checks, in the order given. */
export function vendorPlans(
  job: Omit<SeveralVendorsJob, 'image' | 'workDir' | 'stageDir'> & { outputDir: string },
  endpoints: Endpoints,
): SeveralVendorsPlan {
  return job.vendors.map((vendor) => ({ vendor, ...planVendor({ ...job, vendor }, endpoints) }));
}

async function runOne(ctx: Context, job: SeveralVendorsJob, plan: SeveralVendorsPlan[number]): Promise<VendorOutcome> {
  const { vendor } = plan;
  const started = Date.now();
  const [image, workDir, outputDir] = [
    join(job.workDir, `${vendor}.bin`),
    join(job.workDir, vendor),
    join(job.stageDir, vendor),
  ];
  try {
    await Promise.all([mkdir(workDir), mkdir(outputDir)]);
    await copyImage(ctx, job.image, image);
    const files = await produceVendorImage(ctx, { ...job, vendor, image, workDir, outputDir }, plan);
    const seconds = (Date.now() - started) / 1000;
    ctx.log.info(`vendor ${vendor}: made ${files.length} file(s) in ${seconds.toFixed(1)} s`);
    return { vendor, files };
  } catch (error) {
    return failed(ctx, vendor, error);
  } finally {
    // What the job left of its copy (a converted disk's raw input) and its private directory.
    await Promise.all([rm(image, { force: true }), rm(workDir, { recursive: true, force: true })]);
  }
}

/**
 * The release files a native job needs, fetched and verified before the jobs start, one vendor after the
 * other: concurrent first fetches would race to download the signing key into one file. The jobs then
 * find them verified in the cache. A vendor whose inputs cannot be had fails here, alone.
 */
async function prefetchNativeInputs(
  ctx: Context,
  job: SeveralVendorsJob,
  vendor: string,
): Promise<VendorOutcome | undefined> {
  try {
    // Files with a fallback (the qemu_uefi firmware: the host's OVMF) are the job's to look for.
    const optional = new Set(filesWithFallback(vendor, job.release));
    const required = releaseFilesFor(requireFormat(vendor, job.release), job.release, 'native').filter(
      (file) => !optional.has(file),
    );
    for (const file of required) await fetchReleaseFile(ctx, job.release, file);
    return undefined;
  } catch (error) {
    return failed(ctx, vendor, error);
  }
}

function failed(ctx: Context, vendor: string, error: unknown): VendorOutcome {
  // Ctrl-C stops every vendor; anything else fails this one alone.
  if (ctx.signal.aborted) throw error;
  ctx.log.warn(`vendor ${vendor} failed: ${error instanceof Error ? error.message : String(error)}`);
  return { vendor, error };
}

/**
 * Makes every vendor image as `plans` (the bake's plan, printed by --dry-run) say; returns one outcome per
 * vendor, in the order given. Rejects only on Ctrl-C.
 */
export async function produceVendorImages(
  ctx: Context,
  job: SeveralVendorsJob,
  plans: SeveralVendorsPlan,
  report: (line: string) => void = () => undefined,
): Promise<VendorOutcome[]> {
  const natives = plans.filter((plan) => plan.route === 'native');
  const sdks = plans.filter((plan) => plan.route === 'sdk');
  const outcomes = new Map<string, VendorOutcome>();
  const done = (outcome: VendorOutcome) => {
    outcomes.set(outcome.vendor, outcome);
    report(
      `${outcomes.size} of ${plans.length} vendor images done${[...outcomes.values()].some((o) => o.error) ? ' (some failed)' : ''}`,
    );
    return outcome;
  };
  const ready: SeveralVendorsPlan = [];
  for (const plan of natives) {
    const missing = await prefetchNativeInputs(ctx, job, plan.vendor);
    if (missing) done(missing);
    else ready.push(plan);
  }
  await allFinishedLimited(
    ready.map((plan) => async () => done(await runOne(ctx, job, plan))),
    ctx.jobs,
  );
  for (const plan of sdks) done(await runOne(ctx, job, plan));
  return plans.map((plan) => outcomes.get(plan.vendor)!);
}

/** One error naming every failed vendor (with its kind: the first failure's), or undefined when none failed. */
export function vendorsFailedError(
  outcomes: readonly VendorOutcome[],
  published: readonly string[],
): BakeError | undefined {
  const failed = outcomes.filter((outcome) => outcome.error !== undefined);
  if (failed.length === 0) return undefined;
  const kind: ErrorKind = isBakeError(failed[0]!.error) ? failed[0]!.error.kind : 'internal';
  const reasons = failed.map(
    ({ vendor, error }) => `${vendor} (${error instanceof Error ? error.message : String(error)})`,
  );
  const made = outcomes.filter((outcome) => outcome.files).map((outcome) => outcome.vendor);
  return new BakeError(
    kind,
    `${failed.length} of ${outcomes.length} vendor images failed: ${reasons.join('; ')}`,
    `published ${published.length} file(s): the generic image${made.length > 0 ? ` and ${made.join(', ')}` : ''}`,
  );
}
