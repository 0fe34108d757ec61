/**
 * The bake pipeline as a flat list of stages. Reading STAGES tells the whole story: resolve the release,
 * get and check the sysexts, download and verify the release, decompress it (once), copy it, install the
 * sysexts into ROOT/OEM, optionally make a vendor image, and publish the result atomically.
 */
import { access, link, mkdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { allFinished } from '../core/all-finished.ts';
import { CleanupStack, tempDir } from '../core/cleanup.ts';
import type { Context } from '../context.ts';
import { BakeError, spaceError, verifyError } from '../core/errors.ts';
import { copyImage, checkVersionTxt, decompressedBaseImage, settle, startStreamingDecompression, type StreamingDecompression } from '../flatcar/base-image.ts';
import { attachPartition, checkFilesystem, freeBytes, mountDevice } from '../image/disk.ts';
import { findPartition, readGpt, FLATCAR_PARTITIONS } from '../image/gpt.ts';
import { attachAndResizeRoot, growRootPartition } from '../image/grow.ts';
import { bytesNeeded, installSysext } from '../image/install.ts';
import { planBake, type BakePlan, type BakeRequest } from './plan.ts';
import { resolveRelease } from '../flatcar/release.ts';
import { IMAGE_BIN, IMAGE_BZ2, VERSION_TXT, downloadImage, downloadReleaseFile, fetchImageEvidence, releaseCacheDir, verifyImage, verifyReleaseFile, type ImageEvidence } from '../flatcar/release-files.ts';
import { lockCacheDir } from '../flatcar/cache-lock.ts';
import { WriterRestartedError } from '../image/growing-file.ts';
import { prepareSysext, type PreparedSysext } from './sources.ts';
import { pausePoint, runStages, type Stage } from './stages.ts';
import type { DownloadProgress } from '../net/http.ts';
import { produceVendorImages, vendorsFailedError, type VendorOutcome } from '../vendor/several.ts';
import type { BootReport } from '../boot/check.ts';

export interface BakeState {
  request: BakeRequest;
  workDir: string;
  /** Releases what outlives a stage (a decompression running alongside the download). */
  cleanup: CleanupStack;
  streaming?: StreamingDecompression;
  /** version.txt's check, run while the image downloads: undefined when it passed, else the error. */
  versionCheck?: Promise<unknown>;
  plan?: BakePlan;
  sysexts: PreparedSysext[];
  downloads: Record<string, string>;
  /** What vouches for the image, and its SHA-512 when that was taken during the download. */
  image?: { evidence: ImageEvidence; sha512?: string | undefined };
  baseImage?: string;
  workImage?: string;
  grownBy?: number;
  /** Vendor files staged in the work dir, published together with the generic image. */
  vendorFiles: string[];
  vendorOutcomes: VendorOutcome[];
  smokeReport?: BootReport;
  outputs: string[];
}

const MIB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

function progressLine(report: (line: string) => void): (p: DownloadProgress) => void {
  const started = Date.now();
  return ({ url, received, total }) => {
    const rate = received / Math.max((Date.now() - started) / 1000, 0.001);
    const name = url.split('/').at(-1);
    report(`${name}: ${mib(received)}${total ? ` of ${mib(total)}` : ''} at ${mib(rate)}/s`);
  };
}

async function ensureOutputFree(path: string, force: boolean): Promise<void> {
  const exists = await access(path).then(() => true, () => false);
  if (exists && !force) throw new BakeError('exists', `${path} already exists`, 'pass --force to replace it, or --output another directory');
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

/** The image bake modifies and publishes: decompressed there on a cold cache, else copied there. */
const workImagePath = (state: BakeState) => join(state.workDir, IMAGE_BIN);

/** version.txt is checked while the image downloads; the verify stage collects the outcome. */
function startVersionCheck(ctx: Context, state: BakeState, path: string): void {
  const check = verifyReleaseFile(ctx, path)
    .then(() => checkVersionTxt(path, state.plan!.release))
    .then(() => undefined, (error: unknown) => error);
  state.versionCheck = check;
  state.cleanup.defer('finish checking version.txt', async () => void (await check));
}

export function bakeStages(ctx: Context): Array<Stage<BakeState>> {
  return [
    {
      id: 'resolve',
      title: 'Resolve release',
      run: async (state, report) => {
        const release = await resolveRelease(ctx, state.request.release, state.request.arch);
        state.plan = planBake(state.request, release, ctx);
        const vendorOutputs = state.plan.vendors.flatMap((vendor) => vendor.outputs).map((name) => resolve(state.request.outputDir, name));
        for (const output of [state.plan.output, ...vendorOutputs]) await ensureOutputFree(output, state.request.force);
        report(`${release.channel} ${release.version} (${release.board})`);
      },
    },
    {
      id: 'sysexts',
      title: 'Get and check sysexts',
      run: async (state, report) => {
        const { request, release } = state.plan!;
        for (const spec of request.sysexts) {
          report(spec.name);
          state.sysexts.push(await prepareSysext(ctx, spec, { arch: request.arch, installTo: request.installTo, workDir: state.workDir, osVersion: release.version }));
        }
      },
    },
    {
      id: 'download',
      title: 'Download release',
      run: async (state, report) => {
        const { release } = state.plan!;
        // Held to the end of the bake: the vendor stage fetches into the same cache directory.
        state.cleanup.defer('unlock the release cache', await lockCacheDir(ctx, releaseCacheDir(ctx.cacheDir, release)));
        const [versionTxt, evidence] = await allFinished([downloadReleaseFile(ctx, release, VERSION_TXT), fetchImageEvidence(ctx, release)]);
        state.downloads[VERSION_TXT] = versionTxt;
        startVersionCheck(ctx, state, versionTxt);
        const streaming = await startStreamingDecompression(ctx, release, workImagePath(state), evidence);
        if (streaming) {
          state.streaming = streaming;
          state.cleanup.defer('stop decompressing', () => settle(streaming));
        }
        const progress = progressLine(report);
        const onProgress = (p: DownloadProgress) => {
          progress(p);
          streaming?.reader.notify();
        };
        const onRestart = () => streaming?.reader.fail(new WriterRestartedError('the download started over'));
        const image = await downloadImage(ctx, release, evidence, { onProgress, onRestart });
        streaming?.reader.finish();
        state.downloads[IMAGE_BZ2] = image.path;
        state.image = { evidence, sha512: image.sha512 };
      },
    },
    {
      id: 'verify',
      title: 'Verify signatures',
      run: async (state) => {
        const { streaming } = state;
        const versionProblem = await state.versionCheck;
        if (versionProblem) throw versionProblem;
        const { evidence, sha512 } = state.image!;
        await verifyImage(ctx, state.downloads[IMAGE_BZ2]!, evidence, { sha512, signature: streaming?.signature });
      },
    },
    {
      id: 'decompress',
      title: 'Decompress image',
      run: async (state, report) => {
        const workImage = workImagePath(state);
        const base = await decompressedBaseImage(ctx, state.plan!.release, workImage, state.streaming);
        state.baseImage = base.path;
        if (base.cached) report('cached');
        else state.workImage = workImage;
      },
    },
    {
      id: 'copy',
      title: 'Copy image',
      skip: (state) => state.workImage !== undefined && 'decompressed in place',
      run: async (state) => {
        state.workImage = workImagePath(state);
        await copyImage(ctx, state.baseImage!, state.workImage);
      },
    },
    { id: 'install', title: 'Install sysexts', run: (state, report) => installIntoImage(ctx, state, report) },
    {
      id: 'vendor',
      title: 'Make vendor images',
      skip: (state) => state.request.vendors.length === 0 && 'generic image',
      run: async (state, report) => {
        // Each vendor works on its own copy, as image_to_vm.sh does: the generic image is published too.
        const [workDir, stageDir] = [join(state.workDir, 'vendor'), join(state.workDir, 'vendor-out')];
        await Promise.all([mkdir(workDir), mkdir(stageDir)]);
        const { request } = state;
        const job = { vendors: request.vendors, release: state.plan!.release, image: state.workImage!, workDir, stageDir, ...request.vendorOptions };
        state.vendorOutcomes = await produceVendorImages(ctx, job, report);
        state.vendorFiles = state.vendorOutcomes.flatMap((outcome) => outcome.files ?? []);
      },
    },
    {
      id: 'smoke',
      title: 'Boot and check the extensions (smoke test)',
      skip: (state) => !state.request.smokeTest && 'no --smoke-test',
      run: async (state, report) => {
        // The qemu_uefi image (with its firmware beside it) when that is what was made, else the generic image.
        const qemuImage = state.vendorFiles.find((file) => file.endsWith('_qemu_uefi_image.img'));
        const image = qemuImage ?? state.workImage!;
        report(`booting ${basename(image)}`);
        const { bootCheck, formatReport } = await import('../boot/check.ts');
        state.smokeReport = await bootCheck(ctx, { image, extensions: state.sysexts.map((s) => s.spec.name), ...(qemuImage ? { firmwareDir: dirname(qemuImage) } : {}) });
        if (!state.smokeReport.pass) {
          throw verifyError(`smoke test failed: ${formatReport(state.smokeReport).split('\n').find((line) => line.startsWith('FAIL')) ?? state.smokeReport.problem ?? 'see --json'}`, 'nothing was published; run `bake boot --check` on a baked image for the full report');
        }
      },
    },
    {
      id: 'publish',
      title: 'Move result into place',
      run: async (state) => {
        const output = state.plan!.output;
        await publishFile(state.workImage!, output, state.request.force);
        state.outputs.push(output);
        for (const file of state.vendorFiles) {
          const target = join(state.request.outputDir, basename(file));
          await publishFile(file, target, state.request.force);
          state.outputs.push(target);
        }
        const failed = vendorsFailedError(state.vendorOutcomes, state.outputs);
        if (failed) throw failed;
      },
    },
  ];
}

/** Mounts OEM and ROOT, makes room, installs every sysext, then unmounts and checks both filesystems. */
async function installIntoImage(ctx: Context, state: BakeState, report: (line: string) => void): Promise<void> {
  await using stack = new CleanupStack(ctx.log);
  const image = state.workImage!;
  const table = await readGpt(image);
  // One after the other: each attach writes the image file back first (copyImage left little to write),
  // and two at once would only wait for each other.
  const oemDevice = await attachPartition(ctx, stack, image, findPartition(table, 'oem', image));
  let rootDevice = await attachPartition(ctx, stack, image, findPartition(table, 'root', image));
  const oem = await mountDevice(ctx, stack, oemDevice.device, FLATCAR_PARTITIONS.oem.fstype, 'OEM');
  let root = await mountDevice(ctx, stack, rootDevice.device, FLATCAR_PARTITIONS.root.fstype, 'ROOT');
  await pausePoint(ctx, 'mounted');
  const needed = bytesNeeded(state.sysexts);
  const oemFree = await freeBytes(oem.path);
  if (needed.oem > oemFree) {
    throw spaceError(`the sysexts for OEM need ${mib(needed.oem)} but OEM has ${mib(oemFree)} free`, 'install them to ROOT (--install_to root:/opt/extensions) or bake fewer');
  }
  const rootFree = await freeBytes(root.path);
  if (needed.root > rootFree) {
    const extra = needed.root - rootFree + 64 * MIB;
    report(`growing ROOT by ${mib(extra)}`);
    await root.unmount();
    await rootDevice.detach();
    rootDevice = await attachAndResizeRoot(ctx, stack, image, await growRootPartition(image, extra));
    root = await mountDevice(ctx, stack, rootDevice.device, FLATCAR_PARTITIONS.root.fstype, 'ROOT');
    state.grownBy = extra;
  }
  for (const sysext of state.sysexts) {
    report(`${sysext.spec.name} → ${sysext.placement.osPath}`);
    await installSysext(ctx, { root: root.path, oem: oem.path }, sysext);
  }
  await allFinished([root.unmount(), oem.unmount()]);
  await allFinished([
    checkFilesystem(ctx, rootDevice.device, FLATCAR_PARTITIONS.root.fstype, 'ROOT'),
    checkFilesystem(ctx, oemDevice.device, FLATCAR_PARTITIONS.oem.fstype, 'OEM'),
  ]);
}

export interface BakeResult {
  plan: BakePlan;
  sysexts: PreparedSysext[];
  outputs: string[];
  grownBy?: number;
  smokeReport?: BootReport;
}

/** Runs the whole bake. The work directory sits beside the output so the final rename is atomic. */
export async function bake(ctx: Context, request: BakeRequest, options: { verbose?: boolean } = {}): Promise<BakeResult> {
  await stat(request.outputDir).catch(() => {
    throw new BakeError('input', `output directory ${request.outputDir} does not exist`, 'create it or pass another --output');
  });
  await using work = await tempDir('.bake-work', request.outputDir);
  await using cleanup = new CleanupStack(ctx.log);
  const state: BakeState = { request, workDir: work.path, cleanup, sysexts: [], downloads: {}, vendorFiles: [], vendorOutcomes: [], outputs: [] };
  await runStages(ctx, bakeStages(ctx), state, options);
  return {
    plan: state.plan!,
    sysexts: state.sysexts,
    outputs: state.outputs,
    ...(state.grownBy ? { grownBy: state.grownBy } : {}),
    ...(state.smokeReport ? { smokeReport: state.smokeReport } : {}),
  };
}

