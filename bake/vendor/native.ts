/**
 * The native vendor route: no SDK, no container. The generic image is grown to the format's layout, its
 * OEM partition written, then converted (or, for a fixed VHD, given its footer in place), packaged and
 * compressed under image_to_vm.sh's output names (docs/flatcar-facts.md §2). Everything is staged in
 * the job's private work directory.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Compression, type OemPayload, oemPayload, type VendorFormat } from '../../vendors/formats.ts';
import type { LayoutName } from '../../vendors/layouts.ts';
import { compressedFiles, diskFileName, generatedFiles, qemuFirmwareNames } from '../../vendors/outputs.ts';
import { QEMU_TEMPLATE_SHA256 } from '../../vendors/scripts-pins.ts';
import { findFirmware, HOST_FIRMWARE_BY_ARCH } from '../boot/firmware.ts';
import type { Context } from '../context.ts';
import { allFinished } from '../core/all-finished.ts';
import { ARCHES } from '../core/arch.ts';
import { CleanupStack } from '../core/cleanup.ts';
import { fetchReleaseFile } from '../flatcar/release-files.ts';
import { compressFiles } from './compress.ts';
import { convertDisk } from './convert.ts';
import { writeExtras } from './extras.ts';
import { applyLayout } from './layout.ts';
import { readOemSysext, writeOemPartition } from './oem.ts';
import { OVF_TEMPLATE, QEMU_TEMPLATE, scriptsFileUrl, scriptsTag, type VendorRelease } from './plan.ts';
import { publish } from './publish.ts';
import { expectedDigests, judgeDigest, requireSecureSource, type ScriptsTrust, sha256Text } from './scripts-trust.ts';

export interface NativeJob {
  format: VendorFormat;
  release: VendorRelease;
  image: string;
  workDir: string;
  outputDir: string;
  compression: Compression[];
  layout: LayoutName;
  scripts: ScriptsTrust;
}

async function prepareFirmware(ctx: Context, job: NativeJob, scratch: string): Promise<{ code: string; vars: string }> {
  const names = qemuFirmwareNames(job.format, job.release.version);
  if (await ctx.http.exists(`${job.release.baseUrl}/${names.code}`)) {
    return {
      code: await fetchReleaseFile(ctx, job.release, names.code),
      vars: await fetchReleaseFile(ctx, job.release, names.vars),
    };
  }
  // Host firmware when the release directory has none (docs/flatcar-facts.md §2.4).
  const host = await findFirmware(HOST_FIRMWARE_BY_ARCH[job.release.arch]);
  ctx.log.info(`the release directory has no ${names.code}; using the host's firmware (${host.code})`);
  if (!names.code.endsWith('.qcow2')) return host;
  const converted = { code: join(scratch, 'efi_code.qcow2'), vars: join(scratch, 'efi_vars.qcow2') };
  for (const key of ['code', 'vars'] as const) {
    await ctx.run.run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', host[key], converted[key]], {
      why: `convert the host's UEFI ${key} file`,
    });
  }
  return converted;
}

/** The qemu launcher is published as an executable: it must be a template some release shipped (or the user's). */
async function fetchQemuTemplate(ctx: Context, job: NativeJob): Promise<string> {
  const url = scriptsFileUrl(ctx.endpoints, job.release, QEMU_TEMPLATE);
  const what = `${QEMU_TEMPLATE} of ${scriptsTag(job.release)}`;
  requireSecureSource(url, what, job.scripts);
  const text = await ctx.http.getText(url);
  judgeDigest(what, sha256Text(text), expectedDigests(job.scripts, QEMU_TEMPLATE_SHA256), job.scripts, ctx.log);
  return text;
}

async function fetchTemplates(ctx: Context, job: NativeJob): Promise<Record<string, string>> {
  const { extras } = job.format;
  return {
    ...(extras.includes('qemu_uefi') ? { qemu: await fetchQemuTemplate(ctx, job) } : {}),
    ...(extras.includes('ova')
      ? { ovf: await ctx.http.getText(scriptsFileUrl(ctx.endpoints, job.release, OVF_TEMPLATE)) }
      : {}),
  };
}

/**
 * Release files one at a time, as concurrent fetches would race to download the signing key into one
 * file: the OEM sysext first, then the firmware while the sysext's extension-release is read.
 */
async function fetchReleaseInputs(ctx: Context, job: NativeJob, payload: OemPayload | undefined, stage: string) {
  const oemRaw = payload?.sysext ? await fetchReleaseFile(ctx, job.release, `oem-${payload.spec.id}.raw`) : undefined;
  const [oemSysext, firmware] = await allFinished([
    oemRaw ? readOemSysext(ctx, oemRaw, job.release) : undefined,
    job.format.extras.includes('qemu_uefi') ? prepareFirmware(ctx, job, stage) : undefined,
  ]);
  return { oemSysext, firmware };
}

export async function produceNative(ctx: Context, job: NativeJob): Promise<string[]> {
  await using stack = new CleanupStack(ctx.log);
  const { format, release } = job;
  const stage = join(job.workDir, `vendor-${format.name}`);
  await mkdir(stage, { recursive: true });
  stack.defer(`remove ${stage}`, () => rm(stage, { recursive: true, force: true }));

  // Downloads and the OEM sysext's extension-release do not need the disk: they run while the layout grows it.
  const payload = oemPayload(format, release.version);
  const [{ oemSysext, firmware }, templates] = await allFinished([
    fetchReleaseInputs(ctx, job, payload, stage),
    fetchTemplates(ctx, job),
    applyLayout(ctx, job.image, job.layout, release.version),
  ]);
  if (payload) await writeOemPartition(ctx, stack, job.image, payload, release.version, oemSysext);
  ctx.log.info(`writing ${diskFileName(format)} (${format.disk}, ${ARCHES[release.arch].board})`);
  await convertDisk(ctx, format.disk, job.image, join(stage, diskFileName(format)));

  const files = generatedFiles(format, release.version, release.arch);
  await writeExtras(ctx, { format, release, stage, templates, ...(firmware ? { firmware } : {}) }, files);
  await compressFiles(ctx, stage, files, job.compression);
  const finals = compressedFiles(files, job.compression).map((file) => file.name);
  return await publish(stage, job.outputDir, finals);
}
