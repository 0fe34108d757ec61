/**
 * Grows the image file, its last partition (ROOT, p9) and ROOT's ext4 filesystem when the sysexts do not
 * fit, instead of failing as the original does. Flatcar grows ROOT to the disk on first boot anyway, so a
 * larger ROOT is exactly what the booted system would have.
 */
import { truncate } from 'node:fs/promises';
import type { CleanupStack } from '../cleanup.ts';
import type { Context } from '../context.ts';
import { spaceError } from '../errors.ts';
import { attachPartition, type Attached } from './disk.ts';
import { readGpt, findPartition, SECTOR, type GptPartition } from './gpt.ts';

/** Flatcar aligns partitions to 2 MiB (disk_layout.json part_alignment). */
const ALIGNMENT = 2 * 1024 * 1024;

export function alignUp(value: number, alignment = ALIGNMENT): number {
  return Math.ceil(value / alignment) * alignment;
}

export async function growRootPartition(ctx: Context, image: string, extraBytes: number): Promise<GptPartition> {
  const table = await readGpt(image);
  const before = findPartition(table, 'root', image);
  const newEnd = alignUp(before.offsetBytes + before.sizeBytes + extraBytes);
  const isLast = table.partitions.every((p) => p.number === before.number || p.offsetBytes < before.offsetBytes);
  if (!isLast) throw spaceError('ROOT is not the last partition, so it cannot grow', 'make room in ROOT or bake fewer sysexts');
  await truncate(image, newEnd + ALIGNMENT); // the backup GPT goes into the last, partly used, 2 MiB
  const sgdisk = (args: string[]) => ctx.run.run('sgdisk', [...args, image], { why: 'grow the ROOT partition' });
  await sgdisk(['--move-second-header']);
  const typeAndIdentity = [
    `--typecode=9:${before.typeGuid}`,
    `--change-name=9:${before.label}`,
    `--partition-guid=9:${before.partGuid}`,
  ];
  const attributeBits = [...Array(64).keys()].filter((bit) => (before.attributes >> BigInt(bit)) & 1n).map((bit) => `--attributes=9:set:${bit}`);
  await sgdisk(['--set-alignment=1', '--delete=9', `--new=9:${before.firstLba}:${newEnd / SECTOR - 1}`, ...typeAndIdentity, ...attributeBits]);
  return findPartition(await readGpt(image), 'root', image);
}

/** Attaches the grown ROOT and grows its ext4 to fill the partition (e2fsck first, as resize2fs demands). */
export async function attachAndResizeRoot(ctx: Context, stack: CleanupStack, image: string, root: GptPartition): Promise<Attached> {
  const attached = await attachPartition(ctx, stack, image, root);
  const fsck = await ctx.run.run('e2fsck', ['-f', '-y', attached.device], { privileged: true, allowFailure: true, why: 'check ROOT before growing it' });
  if (fsck.exitCode > 1) throw spaceError(`ROOT's filesystem needs repair before it can grow (e2fsck exit ${fsck.exitCode})`, 'the base image may be corrupt; clear the cache and retry');
  await ctx.run.run('resize2fs', [attached.device], { privileged: true, why: 'grow the ROOT filesystem' });
  return attached;
}
