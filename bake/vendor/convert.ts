/**
 * Disk conversion with qemu-img, one table row per image_to_vm `_write_<disk>_disk` (vendors/formats.ts
 * DISK_FORMATS). image_to_vm's assert_image_size (the virtual size must be a whole number of MiB) is
 * checked on the raw input: qemu-img keeps that size exactly, so reading it back from the output adds
 * nothing but another qemu-img run.
 */
import { rename, stat } from 'node:fs/promises';
import type { Context } from '../context.ts';
import { toolError } from '../errors.ts';
import { DISK_FORMATS, type DiskFormat } from '../../vendors/formats.ts';

const MIB = 2 ** 20;
/** exoscale's qcow2 is resized to 10 GiB on main (`qemu-img resize OUT 10G`). */
const EXOSCALE_BYTES = 10 * 2 ** 30;

export function convertArgs(disk: DiskFormat, input: string, output: string): string[] | undefined {
  const target = DISK_FORMATS[disk].qemuImg;
  if (!target) return undefined;
  return ['convert', '-f', 'raw', input, '-O', target.format, ...(target.compressed ? ['-c'] : []), '-o', target.options.join(','), output];
}

export async function virtualSize(ctx: Context, path: string, format: string): Promise<number> {
  const { stdout } = await ctx.run.run('qemu-img', ['info', '-f', format, '--output=json', path], { readOnly: true, why: 'check the vendor image' });
  return (JSON.parse(stdout) as { 'virtual-size': number })['virtual-size'];
}

async function diskBytes(path: string): Promise<number> {
  const { size } = await stat(path);
  if (size % MIB !== 0) throw toolError(`${path}: virtual size ${size} is not a multiple of 1 MiB`, 'this is a bug in the layout; please report it');
  return size;
}

/** The image is ours to consume: a rename, or a sparse copy when it lives on another filesystem. */
export async function moveOrCopySparse(ctx: Context, input: string, output: string): Promise<void> {
  try {
    await rename(input, output);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await ctx.run.run('cp', ['--sparse=always', input, output], { why: 'copy the image to the output filesystem' });
  }
}

/** Writes `output` from the raw `input`; a raw output is the input itself, moved. */
export async function convertDisk(ctx: Context, disk: DiskFormat, input: string, output: string): Promise<void> {
  const bytes = await diskBytes(input);
  const args = convertArgs(disk, input, output);
  if (!args) {
    await moveOrCopySparse(ctx, input, output);
    return;
  }
  await ctx.run.run('qemu-img', args, { why: `convert the image to ${disk}` });
  if (disk === 'exoscale' && bytes < EXOSCALE_BYTES) {
    await ctx.run.run('qemu-img', ['resize', output, '10G'], { why: 'size the exoscale image' });
  }
}
