/**
 * What the download cache holds, entry by entry (a release, an unpacked upstream archive, a bakery file, a
 * built sysext, a key), with its size on disk and when it was last used, and pruning of those entries.
 * The cache may hold links planted by whoever could write there: the walk never descends into a link and
 * removing one removes the link, so nothing outside the cache is counted or deleted. A release in use by
 * a bake (its lock held) is left alone.
 */
import { lstat, readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import { tryLockCacheDir } from './cache-lock.ts';
import { IMAGE_BIN, IMAGE_BZ2 } from './release-files.ts';

export type EntryKind = 'release' | 'unpacked' | 'downloads' | 'bakery' | 'built' | 'keys' | 'flatcar-scripts';

/** Where each kind of entry lives under the cache, and how many directory levels down its entries are. */
const LAYOUT: ReadonlyArray<{ kind: EntryKind; under: readonly string[]; depth: number }> = [
  { kind: 'release', under: ['releases'], depth: 3 }, // channel/board/version (releaseCacheDir)
  { kind: 'unpacked', under: ['sysext', 'unpacked'], depth: 1 }, // <sha256>
  { kind: 'downloads', under: ['sysext', 'downloads'], depth: 1 }, // per upstream host
  { kind: 'bakery', under: ['bakery'], depth: 1 },
  { kind: 'built', under: ['built'], depth: 2 }, // arch/name
  { kind: 'keys', under: ['keys'], depth: 1 },
  { kind: 'flatcar-scripts', under: ['flatcar-scripts'], depth: 1 },
];

export interface CacheEntry {
  kind: EntryKind;
  /** Its path below the kind's folder, e.g. `stable/amd64-usr/4081.2.0`. */
  name: string;
  path: string;
  /** Bytes allocated on disk (a sparse decompressed image counts what it really takes). */
  bytes: number;
  /** The newest modification in the entry: a bake locking a release or reusing a tree marks it. */
  lastUsedMs: number;
  /** For releases: the compressed image, the decompressed image, and everything else. */
  parts?: { bz2: number; image: number; other: number };
}

interface Usage {
  bytes: number;
  lastUsedMs: number;
}

/** Size and newest mtime of a file, a link (itself) or a directory tree; links are never followed. */
async function usage(path: string, seen: Set<string>): Promise<Usage> {
  const info = await lstat(path);
  const id = `${info.dev}:${info.ino}`;
  const own = { bytes: seen.has(id) ? 0 : info.blocks * 512, lastUsedMs: info.mtimeMs };
  seen.add(id); // hard links (unpacked trees, cached images) count once
  if (!info.isDirectory()) return own;
  const children = await Promise.all((await readdir(path)).map((name) => usage(join(path, name), seen)));
  return children.reduce(
    (sum, child) => ({ bytes: sum.bytes + child.bytes, lastUsedMs: Math.max(sum.lastUsedMs, child.lastUsedMs) }),
    own,
  );
}

const isRealDirectory = (path: string) =>
  lstat(path).then(
    (info) => info.isDirectory(),
    () => false,
  );

/** The kind's folder, when each step to it is a real folder (a link there would lead out of the cache). */
async function kindRoot(cacheDir: string, under: readonly string[]): Promise<string | undefined> {
  let path = cacheDir;
  for (const step of under) {
    path = join(path, step);
    if (!(await isRealDirectory(path))) return undefined;
  }
  return path;
}

/** The names `depth` levels below `dir`, descending only into real directories. */
async function namesBelow(dir: string, depth: number): Promise<string[]> {
  if (!(await isRealDirectory(dir))) return [];
  const names = await readdir(dir);
  if (depth === 1) return names;
  const nested = await Promise.all(
    names.map(async (name) => (await namesBelow(join(dir, name), depth - 1)).map((below) => `${name}/${below}`)),
  );
  return nested.flat();
}

/** Only a real folder is a release; a link or a file in its place is an entry like any other. */
async function releaseParts(path: string, total: number): Promise<CacheEntry['parts'] | undefined> {
  if (!(await isRealDirectory(path))) return undefined;
  const sizeOf = (file: string) =>
    lstat(join(path, file)).then(
      (info) => (info.isFile() ? info.blocks * 512 : 0),
      () => 0,
    );
  const [bz2, image] = [await sizeOf(IMAGE_BZ2), await sizeOf(IMAGE_BIN)];
  return { bz2, image, other: Math.max(0, total - bz2 - image) };
}

export async function listCache(cacheDir: string): Promise<CacheEntry[]> {
  const seen = new Set<string>();
  const entries: CacheEntry[] = [];
  for (const { kind, under, depth } of LAYOUT) {
    const root = await kindRoot(cacheDir, under);
    for (const name of root ? (await namesBelow(root, depth)).sort() : []) {
      const path = join(root!, name);
      const { bytes, lastUsedMs } = await usage(path, seen);
      const parts = kind === 'release' ? await releaseParts(path, bytes) : undefined;
      entries.push({ kind, name, path, bytes, lastUsedMs, ...(parts ? { parts } : {}) });
    }
  }
  return entries;
}

export interface PruneResult {
  removed: CacheEntry[];
  /** Releases a running bake holds. */
  inUse: CacheEntry[];
}

/** Empties a release under its lock, keeping the lock file, then drops the lock and the folder. */
async function pruneRelease(ctx: Context, entry: CacheEntry): Promise<boolean> {
  const release = await tryLockCacheDir(ctx, entry.path);
  if (!release) return false;
  try {
    for (const name of await readdir(entry.path))
      if (name !== '.lock') await rm(join(entry.path, name), { recursive: true, force: true });
  } finally {
    await release();
  }
  // A bake that took the lock meanwhile owns the folder again; its lock file keeps it.
  await rmdir(entry.path).catch(() => undefined);
  return true;
}

/** Removes the entries last used before `olderThanMs` ago (every entry without it). */
export async function pruneCache(ctx: Context, olderThanMs?: number): Promise<PruneResult> {
  const cutoff = olderThanMs === undefined ? Infinity : Date.now() - olderThanMs;
  const result: PruneResult = { removed: [], inUse: [] };
  for (const entry of await listCache(ctx.cacheDir)) {
    if (entry.lastUsedMs >= cutoff) continue;
    // parts marks a real release folder, which a bake may hold; anything else is removed as it is (a link, not its target).
    if (!entry.parts) await rm(entry.path, { recursive: true, force: true });
    else if (!(await pruneRelease(ctx, entry))) {
      result.inUse.push(entry);
      continue;
    }
    result.removed.push(entry);
  }
  return result;
}
