/**
 * A partition's byte range copied out of the image into a file of its own and back, for the tools that
 * cannot work at an offset inside an image (resize2fs, btrfs-progs). Both copies keep holes; the range
 * is punched to zeros before the copy back, so that the blocks the sparse copy skips are zeros too.
 */
import { stat, truncate } from 'node:fs/promises';
import type { Context } from '../context.ts';
import { toolError } from '../core/errors.ts';
import type { GptPartition } from './gpt.ts';

export async function copyPartitionOut(
  ctx: Context,
  image: string,
  partition: GptPartition,
  to: string,
  why: string,
): Promise<void> {
  const { offsetBytes, sizeBytes } = partition;
  await ctx.run.run(
    'dd',
    [
      `if=${image}`,
      `of=${to}`,
      'bs=1M',
      'iflag=skip_bytes,count_bytes',
      `skip=${offsetBytes}`,
      `count=${sizeBytes}`,
      'conv=sparse',
      'status=none',
    ],
    { why },
  );
  await truncate(to, sizeBytes); // a trailing hole still needs the file length
}

/** Refuses a file that is not exactly the partition's size: a longer one would overwrite the next partition. */
export async function copyPartitionBack(
  ctx: Context,
  from: string,
  image: string,
  partition: GptPartition,
  why: string,
): Promise<void> {
  const { offsetBytes, sizeBytes } = partition;
  const { size } = await stat(from);
  if (size !== sizeBytes)
    throw toolError(
      `${why}: the rebuilt partition is ${size} bytes, not ${sizeBytes}`,
      'nothing was written into the image; report this',
    );
  await ctx.run.run(
    'fallocate',
    ['--punch-hole', '--offset', String(offsetBytes), '--length', String(sizeBytes), image],
    { why },
  );
  await ctx.run.run(
    'dd',
    [
      `if=${from}`,
      `of=${image}`,
      'bs=1M',
      'iflag=count_bytes',
      `count=${sizeBytes}`,
      'oflag=seek_bytes',
      `seek=${offsetBytes}`,
      'conv=notrunc,sparse',
      'status=none',
    ],
    { why },
  );
}
