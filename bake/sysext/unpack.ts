/**
 * Unpacking upstream archives for recipes. A verified archive is unpacked once, into the cache under its
 * SHA-256, and every later build gets a hard-linked clone of that tree: no decompression and no copy per
 * build (the bytes are copied once, when a recipe installs them into the sysext root).
 *
 * A clone shares its files with the cache, so nothing may write into it in place. tar and unzip
 * replace files rather than rewriting them (so unpacking `into` a clone is safe); a container build may
 * not, so its source tree first gets private copies of its linked files (privatiseTree). A cached tree
 * counts only when it was renamed into place whole and its marker still matches every file's size and
 * mtime; anything else (a partial unpack, a file changed through a link) is unpacked afresh.
 */
import { randomUUID } from 'node:crypto';
import { copyFile, lstat, mkdir, mkdtemp, rename, rm, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { markerMatches, writeMarker } from '../core/cache.ts';
import type { Context } from '../context.ts';
import { BakeError } from '../core/errors.ts';
import { cloneTree, walkTree } from './tree.ts';

export interface UnpackJob {
  archive: string;
  /** An existing directory; what the archive holds is added to (and replaces) what is there. */
  dir: string;
  strip: number;
  /** The archive's verified SHA-256; without one the archive is unpacked afresh every time. */
  sha256?: string;
}

export async function unpackArchive(ctx: Context, job: UnpackJob): Promise<void> {
  if (job.sha256 === undefined) return unpack(ctx, job.archive, job.dir, job.strip);
  await cloneTree(await cachedTree(ctx, job.archive, job.sha256, job.strip), job.dir, 'link');
}

/** Gives every file below `dir` that shares its inode (with the cache) a copy of its own, mode and times kept. */
export async function privatiseTree(dir: string): Promise<void> {
  for (const entry of await walkTree(dir)) {
    if (entry.kind !== 'file' || entry.links < 2) continue;
    const path = join(dir, entry.path);
    const copy = `${path}.bake-private`;
    const { atime, mtime } = await lstat(path);
    await copyFile(path, copy);
    await utimes(copy, atime, mtime);
    await rename(copy, path);
  }
}

/** The archive unpacked in the cache: reused while its marker matches, else unpacked afresh. */
async function cachedTree(ctx: Context, archive: string, sha256: string, strip: number): Promise<string> {
  const entry = join(ctx.cacheDir, 'sysext', 'unpacked', strip > 0 ? `${sha256}-strip${strip}` : sha256);
  if (!(await treeMatches(entry, sha256))) {
    await mkdir(dirname(entry), { recursive: true });
    await discard(entry);
    await unpackInto(ctx, archive, entry, sha256, strip);
  }
  return join(entry, 'tree');
}

/** Unpacks beside the entry, writes the marker, then renames the whole entry into place. */
async function unpackInto(ctx: Context, archive: string, entry: string, sha256: string, strip: number): Promise<void> {
  const fresh = await mkdtemp(`${entry}.partial-`);
  try {
    await mkdir(join(fresh, 'tree'));
    await unpack(ctx, archive, join(fresh, 'tree'), strip);
    await writeMarker(join(fresh, 'verified'), await filesOf(join(fresh, 'tree')), sha256);
    // A concurrent build may have renamed the same tree into place meanwhile: it is complete, keep it.
    await rename(fresh, entry).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  } finally {
    await rm(fresh, { recursive: true, force: true });
  }
}

/** A stale entry is renamed away before it is removed, so its name never holds a half-deleted tree. */
async function discard(entry: string): Promise<void> {
  const stale = `${entry}.stale-${randomUUID()}`;
  try {
    await rename(entry, stale);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await rm(stale, { recursive: true, force: true });
}

async function treeMatches(entry: string, sha256: string): Promise<boolean> {
  const files = await filesOf(join(entry, 'tree')).catch(() => undefined);
  return files !== undefined && (await markerMatches(join(entry, 'verified'), files, sha256));
}

async function filesOf(tree: string): Promise<string[]> {
  return (await walkTree(tree)).filter((entry) => entry.kind === 'file').map((entry) => join(tree, entry.path));
}

async function unpack(ctx: Context, archive: string, dir: string, strip: number): Promise<void> {
  if (archive.endsWith('.zip')) {
    if (strip > 0) throw new BakeError('internal', 'strip is not supported for zip archives');
    await ctx.run.run('unzip', ['-q', '-o', archive, '-d', dir], { why: 'extract zip archives' });
  } else {
    // GNU tar recognises gzip, xz and zstd by their magic; ownership from the archive is never kept.
    const args = ['-x', '-f', archive, '-C', dir, '--no-same-owner', ...(strip > 0 ? [`--strip-components=${strip}`] : [])];
    await ctx.run.run('tar', args, { why: 'extract upstream archives' });
  }
}
