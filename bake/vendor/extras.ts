/**
 * The files image_to_vm.sh writes besides the disk, for the formats the native route supports:
 * gce's tarball (`_write_gce_conf`), vmware_ova's OVF + OVA (`_write_ovf_vmware_conf`, `_write_ova_bundle`)
 * and qemu_uefi's launcher, README and UEFI firmware (`_write_qemu_uefi_conf`). Templates come from
 * flatcar/scripts at the release's tag, so the output matches the release's own scripts.
 */
import { chmod, copyFile, link, mkdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { releaseQuirks } from '../../vendors/eras.ts';
import type { VendorFormat } from '../../vendors/formats.ts';
import { baseName, diskFileName, qemuFirmwareNames, type VendorFile } from '../../vendors/outputs.ts';
import type { Context } from '../context.ts';
import { hashFile } from '../core/checksums.ts';
import { virtualSize } from './convert.ts';
import type { VendorRelease } from './plan.ts';

/** image_to_vm's --mem default and IMG_DEFAULT_CPUS. */
export const VM_MEMORY_MB = 2048;
export const VM_CPUS = 2;

export interface ExtrasInput {
  format: VendorFormat;
  release: VendorRelease;
  stage: string;
  templates: Record<string, string>;
  firmware?: { code: string; vars: string };
}

/** `sed -e "s%^KEY=.*%KEY='value'%"` for each key. */
export function setShellVariables(template: string, values: Record<string, string>): string {
  return Object.entries(values).reduce(
    (text, [key, value]) => text.replace(new RegExp(`^${key}=.*$`, 'm'), `${key}='${value}'`),
    template,
  );
}

export function vmName(format: VendorFormat, version: string): string {
  return `${baseName(format)}-${version}`.replace(/[.+]/g, '-');
}

async function writeGce(ctx: Context, input: ExtrasInput): Promise<void> {
  const dir = join(input.stage, 'gce-tar');
  await mkdir(dir);
  await link(join(input.stage, diskFileName(input.format)), join(dir, 'disk.raw'));
  await rm(join(input.stage, diskFileName(input.format)));
  // `tar -czf` as image_to_vm, with pigz as the gzip (same format, every core bake may use).
  await ctx.run.run(
    'tar',
    [
      `--use-compress-program=pigz -p ${ctx.jobs}`,
      '-cf',
      join(input.stage, `${baseName(input.format)}.tar.gz`),
      '-C',
      dir,
      'disk.raw',
    ],
    { why: 'pack the GCE image' },
  );
  await rm(dir, { recursive: true });
}

async function writeOva(ctx: Context, input: ExtrasInput): Promise<void> {
  const base = baseName(input.format);
  const vmdk = diskFileName(input.format);
  const vmdkPath = join(input.stage, vmdk);
  const values: Record<string, string> = {
    NAME: base,
    VMDK_FILE_NAME: vmdk,
    VMDK_FILE_SIZE: String((await stat(vmdkPath)).size),
    VMDK_CAPACITY: String(await virtualSize(ctx, vmdkPath, 'vmdk')),
    NUM_CPUS: String(VM_CPUS),
    MEM_SIZE: String(VM_MEMORY_MB),
  };
  const ovf = Object.entries(values).reduce(
    (text, [key, value]) => text.replaceAll(`@@${key}@@`, value),
    input.templates.ovf ?? '',
  );
  await writeFile(join(input.stage, `${base}.ovf`), ovf);
  const dir = join(input.stage, 'ova-tar');
  await mkdir(dir);
  await link(vmdkPath, join(dir, vmdk));
  await copyFile(join(input.stage, `${base}.ovf`), join(dir, `${base}.ovf`));
  const manifest = `SHA1(${vmdk})= ${await hashFile(vmdkPath, 'sha1')}\nSHA1(${base}.ovf)= ${await hashFile(join(dir, `${base}.ovf`), 'sha1')}\n`;
  await writeFile(join(dir, `${base}.mf`), manifest);
  await ctx.run.run('tar', ['-cf', join(input.stage, `${base}.ova`), '-C', dir, `${base}.ovf`, `${base}.mf`, vmdk], {
    why: 'pack the OVA',
  });
  await rm(dir, { recursive: true });
}

function qemuReadme(script: string, version: string): string {
  const display = releaseQuirks(version).qemuDisplayCurses ? '-display curses' : '-curses';
  return `If you have qemu installed (or in the SDK), you can start the image with:
  cd path/to/image
  ./${script} ${display}

If you need to use a different ssh key or different ssh port:
  ./${script} -a ~/.ssh/authorized_keys -p 2223 -- ${display}

If you rather you can use the -nographic option instad of ${display}. In this
mode you can switch from the vm to the qemu monitor console with: Ctrl-a c
See the qemu man page for more details on the monitor console.

SSH into that host with:
  ssh 127.0.0.1 -p 2222
`;
}

async function writeQemuUefi(_ctx: Context, input: ExtrasInput): Promise<void> {
  const { format, release, stage } = input;
  const base = baseName(format);
  const names = qemuFirmwareNames(format, release.version);
  const script = setShellVariables(input.templates.qemu ?? '', {
    VM_NAME: vmName(format, release.version),
    VM_MEMORY: String(VM_MEMORY_MB),
    VM_BOARD: release.board,
    VM_IMAGE: diskFileName(format),
    VM_PFLASH_RO: names.code,
    VM_PFLASH_RW: names.vars,
  });
  await writeFile(join(stage, `${base}.sh`), script);
  await chmod(join(stage, `${base}.sh`), 0o755);
  await writeFile(join(stage, `${base}.README`), qemuReadme(`${base}.sh`, release.version));
  if (!input.firmware) throw new Error('qemu_uefi firmware was not prepared');
  await copyFile(input.firmware.code, join(stage, names.code));
  await copyFile(input.firmware.vars, join(stage, names.vars));
}

const WRITERS: Partial<Record<string, (ctx: Context, input: ExtrasInput) => Promise<void>>> = {
  gce: writeGce,
  ova: writeOva,
  qemu_uefi: writeQemuUefi,
};

/** Writes every extra, then the symlinks the generated file list asks for. */
export async function writeExtras(ctx: Context, input: ExtrasInput, files: readonly VendorFile[]): Promise<void> {
  for (const extra of input.format.extras) {
    const writer = WRITERS[extra];
    if (!writer) throw new Error(`no native writer for ${extra}`);
    await writer(ctx, input);
  }
  for (const file of files.filter((f) => f.linkTo)) await symlink(basename(file.linkTo!), join(input.stage, file.name));
}
