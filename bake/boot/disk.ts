/**
 * The VM's disk: a qcow2 overlay on top of the image (raw generic images and qcow2 qemu_uefi images
 * alike), so a boot never changes the baked artefact, or the image itself with --persist.
 */
import { open, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Context } from '../context.ts';
import { inputError } from '../core/errors.ts';

export interface VmDisk {
  path: string;
  format: string;
}

const COMPRESSED = /\.(bz2|gz|xz|zst)$/;

export async function imageFormat(ctx: Context, image: string): Promise<string> {
  const { stdout } = await ctx.run.run('qemu-img', ['info', '--output=json', '-U', image], {
    why: 'inspect the image',
    readOnly: true,
  });
  const format = (JSON.parse(stdout) as { format?: string }).format;
  if (!format) throw inputError(`qemu-img could not tell the format of ${image}`);
  return format;
}

/**
 * qemu-img calls any file `raw`, so a raw image must show a partition table: a GPT header ("EFI PART" in
 * sector 1) or an MBR boot signature (what a Flatcar image's protective MBR carries). Anything else (a
 * .bz2 renamed, a sysext, a text file) would only land in the firmware's shell.
 */
async function hasPartitionTable(image: string): Promise<boolean> {
  const file = await open(image, 'r');
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(1024), 0, 1024, 0);
    return (
      bytesRead === 1024 && (buffer.toString('latin1', 512, 520) === 'EFI PART' || buffer.readUInt16LE(510) === 0xaa55)
    );
  } finally {
    await file.close();
  }
}

export async function prepareDisk(ctx: Context, image: string, workDir: string, persist: boolean): Promise<VmDisk> {
  const info = await stat(image).catch(() => undefined);
  if (!info?.isFile())
    throw inputError(
      `image ${image} does not exist`,
      'give the baked image (flatcar_production_qemu_uefi_image.img or flatcar_production_image.bin)',
    );
  if (COMPRESSED.test(image)) throw inputError(`image ${image} is compressed`, 'decompress it first, e.g. lbzip2 -dk');
  const format = await imageFormat(ctx, image);
  if (format === 'raw' && !(await hasPartitionTable(image))) {
    throw inputError(
      `${image} is not a disk image (it has no partition table)`,
      'give the baked image (flatcar_production_qemu_uefi_image.img or flatcar_production_image.bin)',
    );
  }
  if (persist) return { path: image, format };
  const overlay = join(workDir, 'disk.qcow2');
  await ctx.run.run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', format, '-b', resolve(image), overlay], {
    why: 'create a throwaway overlay on the image',
  });
  return { path: overlay, format: 'qcow2' };
}
