/**
 * Writes the vendor disk from the raw image, one way per DISK_FORMATS `native` writer (vendors/formats.ts):
 * moved as is, converted with qemu-img as image_to_vm's `_write_<disk>_disk`, or given a fixed-VHD footer
 * in place. image_to_vm's assert_image_size (the virtual size must be a whole number of MiB) is checked on
 * the raw input: every writer keeps that size exactly, so reading it back from the output adds nothing.
 */
import { rename, stat } from 'node:fs/promises';
import { DISK_FORMATS, type DiskFormat, type NativeWriter, nativeWriter } from '../../vendors/formats.ts';
import type { Context } from '../context.ts';
import { toolError } from '../core/errors.ts';
import { appendFixedVhdFooter } from './vhd.ts';

const MIB = 2 ** 20;
const GIB = 2 ** 30;

export function convertArgs(disk: DiskFormat, input: string, output: string): string[] | undefined {
  const target = DISK_FORMATS[disk].qemuImg;
  if (!target) return undefined;
  return [
    'convert',
    '-f',
    'raw',
    input,
    '-O',
    target.format,
    ...(target.compressed ? ['-c'] : []),
    '-o',
    target.options.join(','),
    output,
  ];
}

export async function virtualSize(ctx: Context, path: string, format: string): Promise<number> {
  const { stdout } = await ctx.run.run('qemu-img', ['info', '-f', format, '--output=json', path], {
    readOnly: true,
    why: 'check the vendor image',
  });
  return (JSON.parse(stdout) as { 'virtual-size': number })['virtual-size'];
}

async function diskBytes(path: string): Promise<number> {
  const { size } = await stat(path);
  if (size % MIB !== 0)
    throw toolError(
      `${path}: virtual size ${size} is not a multiple of 1 MiB`,
      'this is a bug in the layout; please report it',
    );
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

async function qemuImgConvert(
  ctx: Context,
  disk: DiskFormat,
  input: string,
  output: string,
  bytes: number,
): Promise<void> {
  await ctx.run.run('qemu-img', convertArgs(disk, input, output)!, { why: `convert the image to ${disk}` });
  const resizeGiB = DISK_FORMATS[disk].resizeGiB;
  if (resizeGiB !== undefined && bytes < resizeGiB * GIB) {
    await ctx.run.run('qemu-img', ['resize', output, `${resizeGiB}G`], { why: `size the ${disk} image` });
  }
}

type DiskWriter = (ctx: Context, disk: DiskFormat, input: string, output: string, bytes: number) => Promise<void>;

const WRITERS: Record<NativeWriter, DiskWriter> = {
  move: (ctx, _disk, input, output) => moveOrCopySparse(ctx, input, output),
  'qemu-img': qemuImgConvert,
  'vhd-footer': async (ctx, _disk, input, output, bytes) => {
    await appendFixedVhdFooter(input, bytes);
    await moveOrCopySparse(ctx, input, output);
  },
};

/** Writes `output` from the raw `input`, which is consumed (moved, or footed and moved). */
export async function convertDisk(ctx: Context, disk: DiskFormat, input: string, output: string): Promise<void> {
  await WRITERS[nativeWriter(disk)](ctx, disk, input, output, await diskBytes(input));
}
