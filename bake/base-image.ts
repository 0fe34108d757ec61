/**
 * The verified, decompressed base image, kept in the cache beside its bz2 so that a warm bake copies it
 * (sparse, or reflink where the filesystem can) instead of decompressing gigabytes again.
 */
import { chmod, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from './context.ts';
import { inputError } from './errors.ts';
import { decompressBz2 } from './image/decompress.ts';
import { parseVersionTxt, type ResolvedRelease } from './release.ts';
import { IMAGE_BIN, markerMatches, releaseCacheDir, writeMarker } from './release-files.ts';

/** version.txt is signed: it must name the release we asked for, or the mirror served the wrong one. */
export async function checkVersionTxt(path: string, release: ResolvedRelease): Promise<Record<string, string>> {
  const values = parseVersionTxt(await readFile(path, 'utf8'));
  if (values.FLATCAR_VERSION !== release.version && values.FLATCAR_VERSION_ID !== release.version) {
    throw inputError(`version.txt of ${release.version} says FLATCAR_VERSION=${values.FLATCAR_VERSION ?? '(none)'}`, 'the release directory does not hold the requested release; check --release-url');
  }
  return values;
}

export async function decompressedBaseImage(ctx: Context, release: ResolvedRelease, bz2: string): Promise<{ path: string; cached: boolean }> {
  const path = join(releaseCacheDir(ctx.cacheDir, release), IMAGE_BIN);
  const marker = `${path}.complete`;
  if (await markerMatches(marker, [path, bz2])) return { path, cached: true };
  const partial = `${path}.partial`;
  try {
    await rm(partial, { force: true });
    await decompressBz2(ctx, bz2, partial);
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  await writeMarker(marker, [path, bz2]);
  return { path, cached: false };
}

/** A sparse (or reflinked) copy of the base image, which bake then modifies. */
export async function copyImage(ctx: Context, from: string, to: string): Promise<void> {
  await ctx.run.run('cp', ['--sparse=always', '--reflink=auto', from, to], { why: 'copy the base image' });
  await chmod(to, 0o644); // the cached copy came through a private FIFO; the output is an ordinary file
}
