/**
 * What the download cache knows about its files. A marker records size and mtime of the files it
 * vouches for (and, where given, the checksum they were checked against), so an untouched cache entry
 * is neither downloaded nor hashed again, while any change to a file sends it through the full check.
 * Files bake keeps without ever re-reading them (the release files and the decompressed base image) get
 * an identity marker instead: inode and change time too, which the kernel sets on every write and which
 * `touch` cannot put back, so a file edited in place with its mtime restored no longer matches.
 */
import { chmod, mkdir, readFile, rm, stat } from 'node:fs/promises';
import type { Context } from '../context.ts';
import { sha256File } from './checksums.ts';
import { replaceFileWith } from './replace-file.ts';

/**
 * `times` for files that are hard-linked elsewhere (each link changes the inode's ctime);
 * `identity` for files only bake writes.
 */
export type MarkerKind = 'times' | 'identity';

async function describe(path: string, kind: MarkerKind): Promise<string> {
  if (kind === 'times') {
    const { size, mtimeMs } = await stat(path);
    return `${size}:${mtimeMs}`;
  }
  const { ino, size, mtimeNs, ctimeNs } = await stat(path, { bigint: true });
  return `${ino}:${size}:${mtimeNs}:${ctimeNs}`;
}

async function fingerprintOf(paths: string[], label: string, kind: MarkerKind): Promise<string> {
  return [label, ...(await Promise.all(paths.map((path) => describe(path, kind))))].join(' ').trim();
}

export async function markerMatches(
  marker: string,
  paths: string[],
  label = '',
  kind: MarkerKind = 'times',
): Promise<boolean> {
  try {
    return (await readFile(marker, 'utf8')) === (await fingerprintOf(paths, label, kind));
  } catch {
    return false;
  }
}

export async function writeMarker(
  marker: string,
  paths: string[],
  label = '',
  kind: MarkerKind = 'times',
): Promise<void> {
  // Replaced, never written through: a link planted at the marker's name must not redirect the write.
  await replaceFileWith(marker, await fingerprintOf(paths, label, kind));
}

/**
 * Makes the cache directory owner-only (creating it so) and says whether it is: whoever else can write
 * in it could swap a file and its marker together. A directory of another user is left as it is, and
 * what bake would trust there without re-reading it is not trusted.
 */
export async function privateCacheDir(dir: string): Promise<boolean> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { uid, mode } = await stat(dir);
  if (uid !== process.geteuid?.()) return false;
  if ((mode & 0o077) !== 0) await chmod(dir, mode & 0o700);
  return true;
}

/**
 * A marker label for files that may exist only in the page cache: valid in this boot only, since a crash
 * before the kernel writes them back can leave holes where their data was, under the same size and mtime.
 */
export async function thisBoot(): Promise<string> {
  return `boot ${(await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim()}`;
}

/**
 * `url` in the cache at `dest`, checked against `sha256` when downloaded and, once, when found there;
 * a cached copy that no longer matches is downloaded again.
 */
export async function downloadVerified(ctx: Context, url: string, dest: string, sha256: string): Promise<string> {
  const marker = `${dest}.verified`;
  const result = await ctx.http.download(url, dest, { sha256 });
  if (!result.downloaded && !(await markerMatches(marker, [dest], sha256)) && (await sha256File(dest)) !== sha256) {
    ctx.log.warn(`cached ${dest} does not match ${url}'s checksum; downloading it again`);
    await rm(dest, { force: true });
    await ctx.http.download(url, dest, { sha256 });
  }
  await writeMarker(marker, [dest], sha256);
  return dest;
}
