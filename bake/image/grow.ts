/**
 * Grows the image file, its last partition (ROOT, p9) and ROOT's ext4 filesystem when the sysexts do not
 * fit, instead of failing as the original does. Flatcar grows ROOT to the disk on first boot anyway, so a
 * larger ROOT is exactly what the booted system would have.
 */

import type { Context } from '../context.ts';
import type { CleanupStack } from '../core/cleanup.ts';
import { hasReason, spaceError } from '../core/errors.ts';
import { type Attached, attachPartition } from './disk.ts';
import { FLATCAR_PARTITIONS, findPartition, type GptPartition, readGpt, SECTOR } from './gpt.ts';
import { resizeLastPartition } from './gpt-resize.ts';

/** Flatcar aligns partitions to 2 MiB (disk_layout.json part_alignment). */
const ALIGNMENT = 2 * 1024 * 1024;

export function alignUp(value: number, alignment = ALIGNMENT): number {
  return Math.ceil(value / alignment) * alignment;
}

/** Makes ROOT at least `extraBytes` larger; the disk ends one alignment unit after it (room for the backup GPT). */
export async function growRootPartition(image: string, extraBytes: number): Promise<GptPartition> {
  const before = findPartition(await readGpt(image), 'root', image);
  const newEnd = alignUp(before.offsetBytes + before.sizeBytes + extraBytes);
  try {
    await resizeLastPartition(
      image,
      FLATCAR_PARTITIONS.root.number,
      (newEnd - before.offsetBytes) / SECTOR,
      newEnd + ALIGNMENT,
    );
  } catch (error) {
    if (hasReason(error, 'not-last-partition')) {
      throw spaceError(
        'ROOT is too small and is not the last partition, so it cannot grow',
        'install to OEM or bake fewer sysexts',
      );
    }
    throw error;
  }
  return findPartition(await readGpt(image), 'root', image);
}

/** Attaches the grown ROOT and grows its ext4 to fill the partition (e2fsck first, as resize2fs demands). */
export async function attachAndResizeRoot(
  ctx: Context,
  stack: CleanupStack,
  image: string,
  root: GptPartition,
): Promise<Attached> {
  const attached = await attachPartition(ctx, stack, image, root);
  const fsck = await ctx.run.run('e2fsck', ['-f', '-y', attached.device], {
    privileged: true,
    allowFailure: true,
    why: 'check ROOT before growing it',
  });
  if (fsck.exitCode > 1)
    throw spaceError(
      `ROOT's filesystem needs repair before it can grow (e2fsck exit ${fsck.exitCode})`,
      'the base image may be corrupt; clear the cache and retry',
    );
  await ctx.run.run('resize2fs', [attached.device], { privileged: true, why: 'grow the ROOT filesystem' });
  return attached;
}
