/**
 * Disk layouts from flatcar/scripts build_library/disk_layout.json (docs/flatcar-facts.md §1). A vendor layout only
 * changes the size of ROOT (p9); the disk then ends at ROOT's end plus the backup GPT, aligned up to
 * `disk_alignment`, exactly as disk_util computes it.
 */
import type { ReleaseQuirks } from './eras.ts';

export type LayoutName = 'base' | 'vm' | 'azure' | 'vagrant' | 'onmetal';

export const SECTOR_BYTES = 512;
/** LCM(4096, 16*63): 2 MiB partition alignment and a whole VHD CHS cylinder. */
export const DISK_ALIGNMENT_BLOCKS = 258048;
/** The backup GPT (header + entries) behind the last partition. */
export const GPT_RESERVED_BLOCKS = 34;

/** ROOT (p9) size in 512-byte blocks, for the old (≤ stable 4459, LTS 4081) and current partition sizes. */
const ROOT_BLOCKS: Record<'old' | 'current', Record<Exclude<LayoutName, 'onmetal'>, number>> = {
  old: { base: 4427776, vm: 12943360, azure: 58875904, vagrant: 33845248 },
  current: { base: 3653632, vm: 12943360, azure: 50876416, vagrant: 33845248 },
};

export function rootBlocksFor(layout: LayoutName, quirks: ReleaseQuirks): number {
  // onmetal (rackspace_onmetal, SDK route only) keeps base's ROOT and changes p7.
  const name = layout === 'onmetal' ? 'base' : layout;
  return ROOT_BLOCKS[quirks.largePartitions ? 'current' : 'old'][name];
}

/** Total disk size in blocks for a ROOT starting at `rootStart` with `rootBlocks` blocks. */
export function diskBlocksFor(rootStart: number, rootBlocks: number): number {
  const end = rootStart + rootBlocks + GPT_RESERVED_BLOCKS;
  return Math.ceil(end / DISK_ALIGNMENT_BLOCKS) * DISK_ALIGNMENT_BLOCKS;
}
