/**
 * A partition's byte range copied out of the image into a file of its own and back, for the tools that
 * cannot work at an offset inside an image (resize2fs, btrfs-progs). qemu-img does the copies: it sees
 * the range as a raw disk of its own (offset and size), reads only the data the file has (a vendor
 * layout's ROOT is tens of GiB of holes, which dd would read as zeros) and writes zeros as holes, so the
 * range ends up exactly the copy's content.
 */

import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Context } from '../context.ts';
import { toolError } from '../core/errors.ts';
import type { ByteRange } from './gpt.ts';

/** qemu-img's options for the partition's range of `image` (a comma in an option value is doubled). */
function rangeOf(image: string, { offsetBytes, sizeBytes }: ByteRange): string {
  const file = resolve(image).replaceAll(',', ',,');
  return `driver=raw,offset=${offsetBytes},size=${sizeBytes},file.driver=file,file.filename=${file}`;
}

export async function copyPartitionOut(
  ctx: Context,
  image: string,
  partition: ByteRange,
  to: string,
  why: string,
): Promise<void> {
  await ctx.run.run('qemu-img', ['convert', '--image-opts', rangeOf(image, partition), '-O', 'raw', resolve(to)], {
    why,
  });
}

/** Refuses a file that is not exactly the partition's size: a longer one would overwrite the next partition. */
export async function copyPartitionBack(
  ctx: Context,
  from: string,
  image: string,
  partition: ByteRange,
  why: string,
): Promise<void> {
  const { size } = await stat(from);
  if (size !== partition.sizeBytes)
    throw toolError(
      `${why}: the rebuilt partition is ${size} bytes, not ${partition.sizeBytes}`,
      'nothing was written into the image; report this',
    );
  await ctx.run.run(
    'qemu-img',
    ['convert', '-n', '-f', 'raw', resolve(from), '--target-image-opts', rangeOf(image, partition)],
    { why },
  );
}
