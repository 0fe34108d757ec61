/**
 * Grows the generic image to a vendor layout, as `disk_util --disk_layout=<layout> update` does: ROOT (p9)
 * gets the layout's size (never shrinks; bake may have grown it already), the disk ends at ROOT's end plus
 * the backup GPT aligned up to disk_alignment, and ROOT's ext4 is resized to fill the partition, offline
 * as the install stage grows it (image/ext4-offline.ts): no loop device, no mount, no root.
 */
import { stat } from 'node:fs/promises';
import { releaseQuirks } from '../../vendors/eras.ts';
import { diskBlocksFor, type LayoutName, rootBlocksFor } from '../../vendors/layouts.ts';
import type { Context } from '../context.ts';
import { growExt4 } from '../image/ext4-offline.ts';
import { FLATCAR_PARTITIONS, findPartition, readGpt, SECTOR } from '../image/gpt.ts';
import { resizeLastPartition } from '../image/gpt-resize.ts';

export interface LayoutTarget {
  rootBlocks: number;
  diskBytes: number;
}

/** Pure: the sizes a layout gives an image whose ROOT starts at `rootStart` and has `currentRootBlocks`. */
export function layoutTarget(
  layout: LayoutName,
  version: string,
  rootStart: number,
  currentRootBlocks: number,
): LayoutTarget {
  const rootBlocks = Math.max(currentRootBlocks, rootBlocksFor(layout, releaseQuirks(version)));
  return { rootBlocks, diskBytes: diskBlocksFor(rootStart, rootBlocks) * SECTOR };
}

export async function applyLayout(
  ctx: Context,
  image: string,
  layout: LayoutName,
  version: string,
): Promise<LayoutTarget> {
  const root = findPartition(await readGpt(image), 'root', image);
  const currentBlocks = Number(root.lastLba - root.firstLba + 1n);
  const target = layoutTarget(layout, version, Number(root.firstLba), currentBlocks);
  const { size } = await stat(image);
  if (target.rootBlocks === currentBlocks && target.diskBytes === size) return target;
  ctx.log.info(`growing the image to the '${layout}' layout (${Math.round(target.diskBytes / 2 ** 20)} MiB)`);
  await resizeLastPartition(image, FLATCAR_PARTITIONS.root.number, target.rootBlocks, target.diskBytes);
  await growExt4(ctx, { image, partition: findPartition(await readGpt(image), 'root', image), label: 'ROOT' });
  return target;
}
