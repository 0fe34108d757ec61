/**
 * Release files in the cache, downloaded once and verified once. The cache is keyed by
 * channel/board/version; a file counts as verified while a marker recording the size and mtime of the
 * file and its signature matches, so a warm bake neither downloads nor re-hashes gigabytes. A file that
 * fails verification is deleted, so the next run downloads it again.
 */
import { rm } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Context } from './context.ts';
import { FLATCAR_SIGNING_KEY_FINGERPRINT, ENDPOINTS } from './endpoints.ts';
import { BakeError } from './errors.ts';
import type { DownloadProgress } from './net/http.ts';
import type { ResolvedRelease } from './release.ts';
import { verifySignature, type SigningKey } from './verify.ts';
import { markerMatches, writeMarker } from './cache.ts';

export const IMAGE_BZ2 = 'flatcar_production_image.bin.bz2';
export const IMAGE_BIN = 'flatcar_production_image.bin';
export const VERSION_TXT = 'version.txt';

export function releaseCacheDir(cacheDir: string, release: ResolvedRelease): string {
  return join(cacheDir, 'releases', release.channel, release.board, release.version);
}

/** The signing key: the user's file as given, or the download of a URL (pinned when it is the default). */
export async function signingKey(ctx: Context, refresh = false): Promise<SigningKey> {
  const location = ctx.endpoints.signingKey;
  const pinned = location === ENDPOINTS.signingKey.default ? { pinnedFingerprint: FLATCAR_SIGNING_KEY_FINGERPRINT } : {};
  if (isAbsolute(location)) return { path: location, ...pinned };
  const name = location.replace(/^[a-z]+:\/\//, '').replace(/[^\w.-]+/g, '_');
  const path = join(ctx.cacheDir, 'keys', name);
  if (refresh) await rm(path, { force: true });
  await ctx.http.download(location, path);
  return { path, ...pinned };
}

export interface FetchOptions {
  onProgress?: (progress: DownloadProgress) => void;
}

/** Downloads `<baseUrl>/<file>` and its `.sig` into the cache, unless they are there already. */
export async function downloadReleaseFile(ctx: Context, release: ResolvedRelease, file: string, options: FetchOptions = {}): Promise<string> {
  const path = join(releaseCacheDir(ctx.cacheDir, release), file);
  await ctx.http.download(`${release.baseUrl}/${file}.sig`, `${path}.sig`);
  await ctx.http.download(`${release.baseUrl}/${file}`, path, options.onProgress ? { onProgress: options.onProgress } : {});
  return path;
}

/** Verifies a downloaded file against its `.sig` once; a file that fails is deleted with its signature. */
export async function verifyReleaseFile(ctx: Context, path: string): Promise<void> {
  const sig = `${path}.sig`;
  const marker = `${path}.verified`;
  if (await markerMatches(marker, [path, sig])) return;
  try {
    await verifyWithRotation(ctx, path, sig);
  } catch (error) {
    await Promise.all([rm(path, { force: true }), rm(sig, { force: true }), rm(marker, { force: true })]);
    throw error;
  }
  await writeMarker(marker, [path, sig]);
}

/** Both of the above: a release file that is in the cache and verified. */
export async function fetchReleaseFile(ctx: Context, release: ResolvedRelease, file: string, options: FetchOptions = {}): Promise<string> {
  const path = await downloadReleaseFile(ctx, release, file, options);
  await verifyReleaseFile(ctx, path);
  return path;
}

/** Signing subkeys rotate yearly: when a cached key does not know the signer, fetch the key once more. */
async function verifyWithRotation(ctx: Context, file: string, sig: string): Promise<void> {
  try {
    await verifySignature(ctx, await signingKey(ctx), file, sig);
  } catch (error) {
    const unknownSigner = error instanceof BakeError && error.kind === 'verify' && error.message.includes('not the signing key');
    if (!unknownSigner || isAbsolute(ctx.endpoints.signingKey)) throw error;
    await verifySignature(ctx, await signingKey(ctx, true), file, sig);
  }
}
