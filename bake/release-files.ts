/**
 * Release files in the cache, downloaded once and verified once. The cache is keyed by
 * channel/board/version; a file counts as verified while a marker recording the size and mtime of the
 * file and its signature matches, so a warm bake neither downloads nor re-hashes gigabytes. A file that
 * fails verification is deleted, so the next run downloads it again.
 */
import { rm, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Context } from './context.ts';
import { FLATCAR_SIGNING_KEY_FINGERPRINT, ENDPOINTS } from './endpoints.ts';
import { BakeError } from './errors.ts';
import type { FileFollower } from './image/growing-file.ts';
import type { DownloadOptions } from './net/http.ts';
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

export type FetchOptions = Pick<DownloadOptions, 'onProgress' | 'onRestart'>;

/** Where a release file lands in the cache. */
export function releaseFilePath(ctx: Context, release: ResolvedRelease, file: string): string {
  return join(releaseCacheDir(ctx.cacheDir, release), file);
}

/** Downloads `<baseUrl>/<file>.sig` into the cache, unless it is there already. */
export async function downloadSignature(ctx: Context, release: ResolvedRelease, file: string): Promise<string> {
  const sig = `${releaseFilePath(ctx, release, file)}.sig`;
  await ctx.http.download(`${release.baseUrl}/${file}.sig`, sig);
  return sig;
}

/** Downloads `<baseUrl>/<file>` and its `.sig` into the cache, unless they are there already. */
export async function downloadReleaseFile(ctx: Context, release: ResolvedRelease, file: string, options: FetchOptions = {}): Promise<string> {
  const path = releaseFilePath(ctx, release, file);
  await downloadSignature(ctx, release, file);
  await ctx.http.download(`${release.baseUrl}/${file}`, path, options);
  return path;
}

const verifiedMarker = (path: string) => `${path}.verified`;

/**
 * Checks the signature over the file's bytes while it downloads (`follower` reads them as they arrive).
 * True only for a good signature by the signing key; any doubt gives false, and verifyReleaseFile then
 * checks the finished file as usual, with its error messages and key rotation. Never rejects.
 */
export async function verifyWhileDownloading(ctx: Context, path: string, follower: FileFollower): Promise<boolean> {
  try {
    await verifySignature(ctx, await signingKey(ctx), path, `${path}.sig`, follower.readable);
    return true;
  } catch (error) {
    follower.readable.destroy();
    ctx.log.debug(`checking the signature during the download did not work out (${(error as Error).message}); checking the finished file`);
    return false;
  }
}

/**
 * Records a streamed check as the file's verification, if it covered exactly the finished file: the
 * follower read the file from its first byte to the end the download left.
 */
export async function acceptStreamedVerification(path: string, follower: FileFollower, good: boolean): Promise<void> {
  if (good && follower.bytesRead() === (await stat(path)).size) await writeMarker(verifiedMarker(path), [path, `${path}.sig`]);
}

/** Verifies a downloaded file against its `.sig` once; a file that fails is deleted with its signature. */
export async function verifyReleaseFile(ctx: Context, path: string): Promise<void> {
  const sig = `${path}.sig`;
  const marker = verifiedMarker(path);
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
