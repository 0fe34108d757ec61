/**
 * Unpacking upstream archives for recipes. A verified archive is unpacked once, into the cache under its
 * SHA-256, and every later build gets a hard-linked clone of that tree: no decompression and no copy per
 * build (the bytes are copied once, when a recipe installs them into the sysext root).
 *
 * A clone shares its files with the cache, so nothing may write into it in place. Unpacking `into` a
 * clone merges a fresh tree in with cloneTree, which replaces files rather than rewriting them; a
 * container build may not, so its source tree first gets private copies of its linked files
 * (privatiseTree, in tree.ts). A cached tree
 * counts only when it was renamed into place whole and its marker still matches every file's size and
 * mtime; anything else (a partial unpack, a file changed through a link) is unpacked afresh.
 *
 * Archives are hostile until inspected: each is unpacked into a fresh folder of its own and checked
 * there (confineTree) before any build sees it, the cached tree included.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Context } from '../context.ts';
import { markerMatches, writeMarker } from '../core/cache.ts';
import { BakeError, inputError, toolError } from '../core/errors.ts';
import { type AbsoluteLinks, CONFINED_HINT, confineTree } from './confine.ts';
import { cloneTree, walkTree } from './tree.ts';

export interface UnpackJob {
  archive: string;
  /** An existing directory; what the archive holds is added to (and replaces) what is there. */
  dir: string;
  strip: number;
  /** The archive's verified SHA-256; without one the archive is unpacked afresh every time. */
  sha256?: string | undefined;
  /** 'root' for distribution packages: their absolute links name the target system's paths (see confine.ts). */
  absoluteLinks?: AbsoluteLinks;
}

export async function unpackArchive(ctx: Context, job: UnpackJob): Promise<void> {
  if (job.sha256 !== undefined)
    return cloneTree(await cachedTree(ctx, job.archive, job.sha256, job.strip), job.dir, 'link');
  const fresh = await mkdtemp(`${job.dir}.unpack-`);
  try {
    await unpackChecked(ctx, job.archive, fresh, job.strip, job.absoluteLinks);
    await cloneTree(fresh, job.dir, 'link');
  } finally {
    await rm(fresh, { recursive: true, force: true });
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
  // The entry's own mtime is its last use, which `bake cache prune --older-than` goes by (the marker
  // covers the tree's files only).
  const now = new Date();
  await utimes(entry, now, now);
  return join(entry, 'tree');
}

/** Unpacks beside the entry, writes the marker, then renames the whole entry into place. */
async function unpackInto(ctx: Context, archive: string, entry: string, sha256: string, strip: number): Promise<void> {
  const fresh = await mkdtemp(`${entry}.partial-`);
  try {
    await mkdir(join(fresh, 'tree'));
    await unpackChecked(ctx, archive, join(fresh, 'tree'), strip);
    await writeMarker(join(fresh, 'verified'), await filesOf(join(fresh, 'tree')), checkedLabel(sha256));
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
  return files !== undefined && (await markerMatches(join(entry, 'verified'), files, checkedLabel(sha256)));
}

/** Cache entries from before archives were inspected carry the bare hash, so they are unpacked afresh. */
const checkedLabel = (sha256: string) => `${sha256} inspected`;

async function filesOf(tree: string): Promise<string[]> {
  return (await walkTree(tree)).filter((entry) => entry.kind === 'file').map((entry) => join(tree, entry.path));
}

/** Unpacks into `dir`, a fresh folder, and makes the tree safe to use or refuses it (see confineTree). */
async function unpackChecked(
  ctx: Context,
  archive: string,
  dir: string,
  strip: number,
  absolute: AbsoluteLinks = 'outside',
): Promise<void> {
  await unpack(ctx, archive, dir, strip);
  await confineTree(ctx.log, dir, basename(archive), (path) => memberName(ctx, { archive, strip }, path), absolute);
}

/** How each archive format is unpacked and listed, and which line of a failure names the culprit. */
interface Extractor {
  tool: string;
  why: string;
  extract(archive: string, dir: string, strip: number): string[];
  list(archive: string): string[];
  complaint(stderr: string[]): string | undefined;
}

const EXTRACTORS: Record<'tar' | 'zip', Extractor> = {
  // GNU tar recognises gzip, xz and zstd by their magic; ownership from the archive is never kept. It
  // skips members that would land outside `dir` (`..`, hard links out, paths through a link) and fails;
  // its last line is an exit summary, the one before names the member.
  tar: {
    tool: 'tar',
    why: 'extract upstream archives',
    extract: (archive, dir, strip) => [
      '-x',
      '-f',
      archive,
      '-C',
      dir,
      '--no-same-owner',
      ...(strip > 0 ? [`--strip-components=${strip}`] : []),
    ],
    list: (archive) => ['-t', '-f', archive],
    complaint: (lines) => lines.at(-2) ?? lines.at(-1),
  },
  // unzip strips `..` and leading slashes, never restores set-ID bits, refuses paths through a link,
  // and says first which member it could not process.
  zip: {
    tool: 'unzip',
    why: 'extract zip archives',
    extract: (archive, dir) => ['-q', '-o', archive, '-d', dir],
    list: (archive) => ['-Z1', archive],
    complaint: (lines) =>
      lines
        .filter((line) => !line.startsWith('warning:'))
        .slice(0, 2)
        .join(' ') || undefined,
  },
};

const extractorFor = (archive: string) => (archive.endsWith('.zip') ? EXTRACTORS.zip : EXTRACTORS.tar);

/** Extracts `archive` into `dir` as it stands (no inspection: see unpackChecked); what tar refuses is an input error. */
export async function unpack(ctx: Context, archive: string, dir: string, strip: number): Promise<void> {
  const extractor = extractorFor(archive);
  if (strip > 0 && extractor === EXTRACTORS.zip)
    throw new BakeError('internal', 'strip is not supported for zip archives');
  const result = await ctx.run.run(extractor.tool, extractor.extract(archive, dir, strip), {
    why: extractor.why,
    allowFailure: true,
  });
  if (result.exitCode === 0) return;
  const lines = result.stderr
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const complaint = `${extractor.tool}: ${extractor.complaint(lines)?.replace(/^\w+: /, '') ?? `exit ${result.exitCode}`}`;
  const listing = await ctx.run.run(extractor.tool, extractor.list(archive), { readOnly: true, allowFailure: true });
  // A readable archive that does not unpack holds members that would land outside `dir`.
  if (listing.exitCode !== 0)
    throw toolError(
      `${extractor.tool} cannot read ${basename(archive)} (${complaint})`,
      'the download may be damaged; remove it from the cache and retry',
    );
  throw inputError(
    `${basename(archive)} holds an entry ${extractor.tool} refuses to unpack (${complaint})`,
    CONFINED_HINT,
  );
}

interface ArchiveSource {
  archive: string;
  strip: number;
}

/** The archive's own name for an unpacked path: `--strip-components` removed its leading folders. */
async function memberName(ctx: Context, source: ArchiveSource, path: string): Promise<string> {
  if (source.strip === 0) return path;
  const listing = await ctx.run.run('tar', EXTRACTORS.tar.list(source.archive), { readOnly: true, allowFailure: true });
  const stripped = (member: string) => member.replace(/\/+$/, '').split('/').slice(source.strip).join('/');
  return listing.stdout.split('\n').find((member) => stripped(member) === path) ?? path;
}
