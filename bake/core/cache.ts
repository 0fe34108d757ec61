/**
 * What the download cache knows about its files. A marker records size and mtime of the files it
 * vouches for (and, where given, the checksum they were checked against), so an untouched cache entry
 * is neither downloaded nor hashed again, while any change to a file sends it through the full check.
 */
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { sha256File } from './checksums.ts';
import type { Context } from '../context.ts';

async function fingerprintOf(paths: string[], label: string): Promise<string> {
  const stats = await Promise.all(paths.map((p) => stat(p)));
  return [label, ...stats.map((s) => `${s.size}:${s.mtimeMs}`)].join(' ').trim();
}

export async function markerMatches(marker: string, paths: string[], label = ''): Promise<boolean> {
  try {
    return (await readFile(marker, 'utf8')) === (await fingerprintOf(paths, label));
  } catch {
    return false;
  }
}

export async function writeMarker(marker: string, paths: string[], label = ''): Promise<void> {
  await writeFile(marker, await fingerprintOf(paths, label));
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
