/**
 * The bake run, read top-down as the story it tells: with the plan made (pipeline/plan.ts), check the
 * outputs are free, get and check the sysexts, download the release while decoding it, verify it, keep
 * the decoded image (or copy the cached one), install the sysexts into ROOT/OEM, optionally make vendor
 * images and boot the result, and publish atomically. Each stage is a function that takes what it needs
 * and returns what the next one needs; work that overlaps (decoding while downloading) travels as one
 * value, the ReleaseDownload.
 */
import { mkdir, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { BootReport } from '../boot/check.ts';
import type { Context } from '../context.ts';
import { allFinished } from '../core/all-finished.ts';
import { CleanupStack, tempDir } from '../core/cleanup.ts';
import { BakeError, bootError } from '../core/errors.ts';
import {
  checkVersionTxt,
  copyImage,
  decompressedBaseImage,
  type StreamingDecompression,
  settle,
  startStreamingDecompression,
} from '../flatcar/base-image.ts';
import { lockCacheDir } from '../flatcar/cache-lock.ts';
import {
  downloadImage,
  downloadReleaseFile,
  fetchImageEvidence,
  IMAGE_BIN,
  type ImageEvidence,
  releaseCacheDir,
  VERSION_TXT,
  verifyImage,
  verifyReleaseFile,
} from '../flatcar/release-files.ts';
import { WriterRestartedError } from '../image/growing-file.ts';
import type { DownloadProgress } from '../net/http.ts';
import { requireVendorDownloads } from '../vendor/preflight.ts';
import { produceVendorImages, type VendorOutcome, vendorsFailedError } from '../vendor/several.ts';
import { installIntoImage } from './install.ts';
import type { BakePlan } from './plan.ts';
import { decodeLine, downloadProgress } from './progress.ts';
import { ensureOutputsFree, publish } from './publish.ts';
import { type PreparedSysext, prepareSysext } from './sources.ts';
import type { Report, StageRunner } from './stages.ts';
import type { TrustInstalled } from './trust.ts';

export interface BakeResult {
  plan: BakePlan;
  sysexts: PreparedSysext[];
  outputs: string[];
  grownBy?: number;
  smokeReport?: BootReport;
  /** What --trust-cert and --require-signed-sysexts wrote. */
  trust?: TrustInstalled;
}

/** Runs the plan. The work directory sits beside the output so the final renames are atomic. */
export async function bake(ctx: Context, plan: BakePlan, stages: StageRunner): Promise<BakeResult> {
  await using outputDir = await ensureOutputDir(plan.request.outputDir);
  await ensureOutputsFree(plan);
  await using work = await tempDir('.bake-work', plan.request.outputDir);
  await using cleanup = new CleanupStack(ctx.log);
  const workImage = join(work.path, IMAGE_BIN);

  const sysexts = await stages.run('sysexts', 'Get and check sysexts', (report) =>
    prepareSysexts(ctx, plan, work.path, report),
  );
  if (plan.vendors.length > 0) await requireVendorDownloads(ctx, plan.release, plan.vendors);
  const download = await stages.run('download', 'Download release', (report) =>
    downloadRelease(ctx, plan, workImage, cleanup, report),
  );
  await stages.run('verify', 'Verify signatures', () => verifyRelease(ctx, download));
  const base = await stages.run('decompress', 'Decompress image', (report) =>
    decompressRelease(ctx, plan, workImage, download, report),
  );
  if (base.cached) await stages.run('copy', 'Copy image', () => copyImage(ctx, base.path, workImage));
  else await stages.skip('Copy image', 'decompressed in place');
  const { grownBy, trust } = await stages.run('install', 'Install sysexts', (report) =>
    installIntoImage(ctx, workImage, sysexts, report, plan.trust),
  );
  const vendors =
    plan.vendors.length > 0
      ? await stages.run('vendor', 'Make vendor images', (report) =>
          makeVendorImages(ctx, plan, workImage, work.path, report),
        )
      : ((await stages.skip('Make vendor images', 'generic image')) ?? []);
  const vendorFiles = vendors.flatMap((outcome) => outcome.files ?? []);
  const smokeReport = plan.request.smokeTest
    ? await stages.run('smoke', 'Boot and check the extensions (smoke test)', (report) =>
        smokeTest(ctx, sysexts, workImage, vendorFiles, plan.request.smokeTimeoutSeconds, report),
      )
    : await stages.skip('Boot and check the extensions (smoke test)', 'no --smoke-test');
  const outputs = await stages.run('publish', 'Move result into place', () => publish(plan, workImage, vendorFiles));
  // The generic image and every vendor image that was made are published; then the failures are named.
  const failedVendors = vendorsFailedError(vendors, outputs);
  if (failedVendors) throw failedVendors;
  outputDir.keep();
  return {
    plan,
    sysexts,
    outputs,
    ...(grownBy ? { grownBy } : {}),
    ...(smokeReport ? { smokeReport } : {}),
    ...(trust ? { trust } : {}),
  };
}

/**
 * The output directory, created (with its parents) when missing. One this bake created is removed again
 * unless the bake published into it, so a failed run leaves no empty directories behind.
 */
async function ensureOutputDir(outputDir: string): Promise<AsyncDisposable & { keep(): void }> {
  const info = await stat(outputDir).catch(() => undefined);
  if (info && !info.isDirectory())
    throw new BakeError('input', `${outputDir} is not a directory`, 'pass another --output');
  const created = info ? undefined : await mkdir(outputDir, { recursive: true });
  let kept = false;
  return {
    keep: () => {
      kept = true;
    },
    async [Symbol.asyncDispose]() {
      if (created && !kept) await removeEmptyUpTo(outputDir, created);
    },
  };
}

/** rmdir from `dir` up to `top`: only empty directories go, so nothing another process put there is lost. */
async function removeEmptyUpTo(dir: string, top: string): Promise<void> {
  for (let current = dir; ; current = dirname(current)) {
    if (
      !(await rmdir(current).then(
        () => true,
        () => false,
      )) ||
      current === top
    )
      return;
  }
}

async function prepareSysexts(
  ctx: Context,
  plan: BakePlan,
  workDir: string,
  report: Report,
): Promise<PreparedSysext[]> {
  const { request, release } = plan;
  const prepared: PreparedSysext[] = [];
  for (const { spec } of plan.sysexts) {
    report(spec.name);
    prepared.push(
      await prepareSysext(ctx, spec, {
        arch: request.arch,
        installTo: request.installTo,
        workDir,
        osVersion: release.version,
        ...(request.ddi ? { ddi: request.ddi } : {}),
        trust: plan.trust,
      }),
    );
  }
  return prepared;
}

/** The release as the download stage leaves it: the files, and the checks and decoding still running. */
interface ReleaseDownload {
  image: { path: string; evidence: ImageEvidence; sha512?: string | undefined };
  /** version.txt's signature and content, checked while the image downloads: undefined when good, else the error. */
  versionProblem: Promise<unknown>;
  /** Decoding the image as it arrives, on a cold cache. */
  streaming?: StreamingDecompression;
}

/**
 * Downloads version.txt, the image's evidence and the image, and starts decoding the image as it
 * arrives. The release cache stays locked to the end of the bake: the vendor stage fetches into it too.
 */
async function downloadRelease(
  ctx: Context,
  plan: BakePlan,
  workImage: string,
  cleanup: CleanupStack,
  report: Report,
): Promise<ReleaseDownload> {
  const { release } = plan;
  cleanup.defer('unlock the release cache', await lockCacheDir(ctx, releaseCacheDir(ctx.cacheDir, release)));
  const [versionTxt, evidence] = await allFinished([
    downloadReleaseFile(ctx, release, VERSION_TXT),
    fetchImageEvidence(ctx, release),
  ]);
  const versionProblem = verifyReleaseFile(ctx, versionTxt)
    .then(() => checkVersionTxt(versionTxt, release))
    .then(
      () => undefined,
      (error: unknown) => error,
    );
  cleanup.defer('finish checking version.txt', async () => void (await versionProblem));
  const streaming = await startStreamingDecompression(ctx, release, workImage, evidence);
  if (streaming) cleanup.defer('stop decompressing', () => settle(streaming));
  const progress = downloadProgress(report);
  const image = await downloadImage(ctx, release, evidence, {
    onProgress: (p: DownloadProgress) => {
      progress(p);
      streaming?.reader.notify();
    },
    onRestart: () => streaming?.reader.fail(new WriterRestartedError('the download started over')),
  });
  streaming?.reader.finish();
  if (!image.downloaded) report('cached');
  return {
    image: { path: image.path, evidence, sha512: image.sha512 },
    versionProblem,
    ...(streaming ? { streaming } : {}),
  };
}

async function verifyRelease(ctx: Context, download: ReleaseDownload): Promise<void> {
  const versionProblem = await download.versionProblem;
  if (versionProblem) throw versionProblem;
  const { path, evidence, sha512 } = download.image;
  await verifyImage(ctx, path, evidence, { sha512, signature: download.streaming?.signature });
}

/** The verified base image: decoded into the work image on a cold cache, else the cached copy to copy. */
async function decompressRelease(
  ctx: Context,
  plan: BakePlan,
  workImage: string,
  download: ReleaseDownload,
  report: Report,
): Promise<{ path: string; cached: boolean }> {
  const base = await decompressedBaseImage(ctx, plan.release, workImage, download.streaming, (progress) =>
    report(decodeLine(progress)),
  );
  if (base.cached) report('cached');
  return base;
}

/** Each vendor works on its own copy of the baked image, as image_to_vm.sh does; the generic image is published too. */
async function makeVendorImages(
  ctx: Context,
  plan: BakePlan,
  workImage: string,
  workDir: string,
  report: Report,
): Promise<VendorOutcome[]> {
  const [vendorWorkDir, stageDir] = [join(workDir, 'vendor'), join(workDir, 'vendor-out')];
  await Promise.all([mkdir(vendorWorkDir), mkdir(stageDir)]);
  const { request, release } = plan;
  const job = {
    vendors: request.vendors,
    release,
    image: workImage,
    workDir: vendorWorkDir,
    stageDir,
    ...request.vendorOptions,
  };
  return produceVendorImages(ctx, job, plan.vendors, report);
}

/** Boots the qemu_uefi image (with its firmware beside it) when that was made, else the generic image. */
async function smokeTest(
  ctx: Context,
  sysexts: readonly PreparedSysext[],
  workImage: string,
  vendorFiles: readonly string[],
  timeoutSeconds: number | undefined,
  report: Report,
): Promise<BootReport> {
  const qemuImage = vendorFiles.find((file) => file.endsWith('_qemu_uefi_image.img'));
  const image = qemuImage ?? workImage;
  report(`booting ${basename(image)}`);
  const { bootCheck, failures } = await import('../boot/check.ts');
  const bootReport = await bootCheck(ctx, {
    image,
    extensions: sysexts.map((s) => s.spec.name),
    timeoutSeconds,
    ...(qemuImage ? { firmwareDir: dirname(qemuImage) } : {}),
  });
  if (!bootReport.pass) {
    throw bootError(
      `smoke test failed: ${failures(bootReport)[0] ?? 'see --json'}`,
      'nothing was published; run `bake boot --check` on a baked image for the full report',
    );
  }
  return bootReport;
}
