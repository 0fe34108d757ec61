/**
 * Grows the image file and its last partition (ROOT, p9) when the sysexts do not fit, instead of failing
 * as the original does; ext4-offline.ts then grows ROOT's filesystem. Flatcar grows ROOT to the disk on
 * first boot anyway, so a larger ROOT is exactly what the booted system would have.
 */

import { hasReason, spaceError } from '../core/errors.ts';
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
