/**
 * The vendor stage: turns the baked generic image into a vendor image, by the SDK route (image_to_vm.sh
 * in the Flatcar SDK container) or the native route (qemu-img, no SDK). several.ts plans every vendor of
 * a bake (vendorPlans, what `--dry-run` prints) and calls produceVendorImage with each plan.
 */

import type { LayoutName } from '../../vendors/layouts.ts';
import type { Context } from '../context.ts';
import type { RuntimeChoice } from '../core/container.ts';
import { produceNative } from './native.ts';
import { type RouteChoice, requireFormat, type VendorPlan, type VendorRelease } from './plan.ts';
import { PINNED_ONLY, type ScriptsTrust } from './scripts-trust.ts';
import { produceSdk } from './sdk.ts';

export interface VendorJob {
  vendor: string;
  route: RouteChoice;
  release: VendorRelease;
  /** The baked generic image, unmounted; consumed (moved or modified) by the job. */
  image: string;
  /** Private temp dir on the output filesystem. */
  workDir: string;
  outputDir: string;
  /** bz2, gz, zip, zst, none (comma lists allowed); default: what Flatcar's CI publishes for the format. */
  compression?: string[];
  containerRuntime?: RuntimeChoice;
  /** image_to_vm's --disk_layout: another layout than the format's. */
  diskLayout?: LayoutName;
  /** What vouches for the flatcar/scripts files the job runs (default: the pinned digests only). */
  scripts?: ScriptsTrust;
}

/**
 * Final output paths, each written atomically (stage + rename). `plan` is the job's plan as --dry-run
 * prints it (vendorPlans), so the run follows exactly that plan.
 */
export async function produceVendorImage(ctx: Context, job: VendorJob, plan: VendorPlan): Promise<string[]> {
  const format = requireFormat(job.vendor, job.release);
  const { compression } = plan;
  ctx.log.info(`vendor ${job.vendor}: ${plan.route} route (${plan.reason})`);
  const common = {
    format,
    release: job.release,
    image: job.image,
    workDir: job.workDir,
    outputDir: job.outputDir,
    compression,
    scripts: job.scripts ?? PINNED_ONLY,
  };
  if (plan.route === 'native') return produceNative(ctx, { ...common, layout: job.diskLayout ?? format.layout });
  return produceSdk(ctx, {
    ...common,
    containerRuntime: job.containerRuntime ?? 'auto',
    ...(job.diskLayout ? { layout: job.diskLayout } : {}),
  });
}

export type { RouteChoice, VendorPlan, VendorRelease };
