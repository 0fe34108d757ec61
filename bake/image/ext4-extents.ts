/**
 * File data into ROOT without debugfs copying it. debugfs's `write` pushes every block through
 * libext2fs one at a time (about 0.8 s of CPU for a 90 MiB sysext, twenty times a `cp`), so debugfs
 * only allocates: it creates the file empty, fallocates its blocks and sets its size; its extent
 * commands then mark the extents written (fallocate leaves them unwritten, which reads back as zeros);
 * and bake copies the bytes into those blocks of the image file itself, at the partition's offset, as
 * `cp` would. The extents debugfs reports are checked to cover the file exactly and to lie inside the
 * filesystem, so no byte lands outside ROOT whatever the image's allocation bitmaps say.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { setImmediate } from 'node:timers/promises';
import type { Context } from '../context.ts';
import { inputError, interruptedError, toolError } from '../core/errors.ts';
import type { Ext4AtOffset } from './e2fsprogs.ts';

/** What the allocation needs of the filesystem, from its superblock. */
export interface Ext4Geometry {
  blockSize: number;
  blocksCount: number;
  /** Extent-mapped files and no inline data: the filesystem can take files this way. */
  allocatable: boolean;
}

/** A host file going into ROOT, by its size when it was queued, and the filesystem it goes into. */
export interface FileToFill {
  from: string;
  path: string;
  size: number;
  geometry: Ext4Geometry;
}

/** One extent of a file: `length` blocks from logical block `logical` at physical block `physical`. */
export interface Extent {
  logical: number;
  length: number;
  physical: number;
  unwritten: boolean;
}

/** Copies go through one buffer of this size (larger ones copied no faster). */
const COPY_CHUNK = 1024 * 1024;
/** `print_all`'s line for a leaf extent: `extent: lblk 0--206, len 207, pblk 7986, flags: LEAF UNINIT`. */
const EXTENT_LINE = /^extent: lblk (\d+)--(\d+), len (\d+), pblk (\d+), flags: ([A-Z ]*?)\s*$/;
/** debugfs makes files only as copies of host files: a copy of /dev/null is an empty one. */
const EMPTY_SOURCE = '/dev/null';

export const blocksOf = (file: FileToFill) => Math.ceil(file.size / file.geometry.blockSize);

/** Creates `path` empty and allocates (unwritten) blocks for `file.size` bytes. */
export function allocateCommands(quoted: string, file: FileToFill): string[] {
  const blocks = blocksOf(file);
  const create = [`write ${EMPTY_SOURCE} ${quoted}`];
  if (blocks === 0) return create;
  return [...create, `fallocate ${quoted} 0 ${blocks - 1}`, `sif ${quoted} size ${file.size}`];
}

/** Lists a file's leaf extents; the listing is the output of the middle command. */
export function listExtentsCommands(quoted: string): string[] {
  return [`extent_open ${quoted}`, 'print_all --leaf-only', 'extent_close'];
}

/** Rewrites each extent as it is, written: the bytes bake copies are then what the file reads. */
export function markWrittenCommands(quoted: string, extents: readonly Extent[]): string[] {
  const replace = extents.flatMap(({ logical, length, physical }) => [
    `goto_block ${logical}`,
    `replace_node ${logical} ${length} ${physical}`,
  ]);
  return [`extent_open ${quoted}`, ...replace, 'extent_close'];
}

/**
 * The extents of `print_all --leaf-only`, checked to map the file's blocks exactly once, in order,
 * inside the filesystem, all of them written when `written`.
 */
export function parseExtents(
  fs: Ext4AtOffset,
  file: FileToFill,
  listing: Buffer,
  { written }: { written: boolean },
): Extent[] {
  const wrong = (problem: string) =>
    toolError(`debugfs allocated ${fs.label}:${file.path} wrongly: ${problem}`, 'check the base image with e2fsck');
  const lines = listing.toString('latin1').split('\n').filter(Boolean);
  const extents = lines.map((line) => {
    const match = EXTENT_LINE.exec(line);
    if (!match) throw wrong(`unexpected extent listing '${line.slice(0, 80)}'`);
    const [first, last, length, physical] = match.slice(1, 5).map(Number) as [number, number, number, number];
    if (last - first + 1 !== length || !match[5]!.split(' ').includes('LEAF')) throw wrong(`extent '${line}'`);
    return { logical: first, length, physical, unwritten: match[5]!.split(' ').includes('UNINIT') };
  });
  let next = 0;
  for (const extent of extents) {
    if (extent.logical !== next) throw wrong(`block ${next} is not mapped once`);
    if (extent.physical < 1 || extent.physical + extent.length > file.geometry.blocksCount)
      throw wrong(`blocks ${extent.physical}+${extent.length} lie outside the filesystem`);
    if (written && extent.unwritten) throw wrong(`blocks from ${extent.logical} are still unwritten`);
    next += extent.length;
  }
  if (next !== blocksOf(file)) throw wrong(`${next} blocks mapped for ${blocksOf(file)}`);
  return extents;
}

/**
 * Copies the host file into its extents in the image, the last block padded with zeros (so the image
 * holds nothing of what the block held before). The host file must not have changed since it was queued.
 * The copy is synchronous, a chunk at a time with the event loop let in between (for Ctrl-C and the
 * debugfs process running meanwhile): the thread pool's round trip per read and write made an
 * asynchronous copy twice as slow as `cp`.
 */
export async function copyIntoExtents(
  ctx: Context,
  fs: Ext4AtOffset,
  file: FileToFill,
  extents: readonly Extent[],
): Promise<void> {
  const { blockSize } = file.geometry;
  const buffer = Buffer.allocUnsafe(Math.min(COPY_CHUNK, blocksOf(file) * blockSize));
  using source = openFile(file.from, 'r');
  using image = openFile(fs.image, 'r+');
  for (const extent of extents) {
    const bytes = extent.length * blockSize;
    for (let done = 0; done < bytes; done += buffer.length) {
      await setImmediate();
      if (ctx.signal.aborted) throw interruptedError(ctx.signal, `writing ${fs.label}:${file.path}`);
      const length = Math.min(buffer.length, bytes - done);
      const bytesRead = readSync(source.fd, buffer, 0, length, extent.logical * blockSize + done);
      buffer.fill(0, bytesRead, length);
      const at = fs.partition.offsetBytes + extent.physical * blockSize + done;
      if (writeSync(image.fd, buffer, 0, length, at) !== length)
        throw toolError(`writing ${fs.label}:${file.path} stopped short`);
    }
  }
  if (fstatSync(source.fd).size !== file.size)
    throw inputError(
      `${file.from} changed while bake copied it into ${fs.label}`,
      'do not change inputs during a bake',
    );
}

/** A file descriptor closed when its holder leaves scope. */
function openFile(path: string, flags: string): { fd: number } & Disposable {
  const fd = openSync(path, flags);
  return { fd, [Symbol.dispose]: () => closeSync(fd) };
}
