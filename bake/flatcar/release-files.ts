/**
 * Release files in the cache, downloaded once and verified once. The cache is keyed by
 * channel/board/version; a file counts as verified while a marker recording the identity (inode, size,
 * mtime, ctime: see core/cache.ts) of the file and of what vouches for it (its signature, or for the image its signed checksum list) matches, so
 * a warm bake neither downloads nor re-hashes gigabytes. A file that fails verification is deleted, so
 * the next run downloads it again.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Context } from '../context.ts';
import { allFinished } from '../core/all-finished.ts';
import { markerMatches, writeMarker } from '../core/cache.ts';
import { findFlatcarSha512, hashFile } from '../core/checksums.ts';
import { notFoundUrl, verifyError } from '../core/errors.ts';
import type { FileFollower } from '../image/growing-file.ts';
import type { DownloadOptions, DownloadResult } from '../net/http.ts';
import { LIMITS } from '../net/limits.ts';
import type { ResolvedRelease } from './release.ts';
import { endpointKey, verifySignature, verifyWithEndpointKey } from './verify.ts';

export const IMAGE_BZ2 = 'flatcar_production_image.bin.bz2';
export const IMAGE_BIN = 'flatcar_production_image.bin';
export const VERSION_TXT = 'version.txt';
/** The suffix of the signed checksum list Flatcar publishes beside every release file. */
export const DIGESTS = '.DIGESTS';

export function releaseCacheDir(cacheDir: string, release: ResolvedRelease): string {
  return join(cacheDir, 'releases', release.channel, release.board, release.version);
}

/** Release files whose size is known to be tiny; any other file may be as large as the download cap. */
const SMALL_RELEASE_FILE = [VERSION_TXT, DIGESTS, '.sig'];

/** The byte limit of a release file: kilobytes for signatures, version.txt and checksum lists. */
function releaseFileLimit(file: string): number | undefined {
  return SMALL_RELEASE_FILE.some((suffix) => file.endsWith(suffix)) ? LIMITS.smallFile : undefined;
}

export type FetchOptions = Pick<DownloadOptions, 'onProgress' | 'onRestart'>;

/** Where a release file lands in the cache. */
export function releaseFilePath(ctx: Context, release: ResolvedRelease, file: string): string {
  return join(releaseCacheDir(ctx.cacheDir, release), file);
}

/** Downloads `<baseUrl>/<file>.sig` into the cache, unless it is there already. */
export async function downloadSignature(ctx: Context, release: ResolvedRelease, file: string): Promise<string> {
  const sig = `${releaseFilePath(ctx, release, file)}.sig`;
  await ctx.http.download(`${release.baseUrl}/${file}.sig`, sig, { maxBytes: LIMITS.smallFile });
  return sig;
}

/**
 * Downloads `<baseUrl>/<file>` and its `.sig` into the cache, unless they are there already. Both at once:
 * on a real network each request costs a round trip before the image download can start.
 */
export async function downloadReleaseFile(
  ctx: Context,
  release: ResolvedRelease,
  file: string,
  options: FetchOptions = {},
): Promise<string> {
  const path = releaseFilePath(ctx, release, file);
  const limit = releaseFileLimit(file);
  const download = ctx.http.download(`${release.baseUrl}/${file}`, path, {
    ...options,
    ...(limit !== undefined ? { maxBytes: limit } : {}),
  });
  await allFinished([downloadSignature(ctx, release, file), download]);
  return path;
}

const verifiedMarker = (path: string) => `${path}.verified`;

/**
 * What vouches for the image. Flatcar signs every release file (`X.sig`) and also the list of its
 * checksums (`X.DIGESTS`, signed as `X.DIGESTS.sig`). bake prefers the list: gpg then reads a few hundred
 * bytes instead of the whole image, whose SHA-512 is taken as it downloads, which costs less than half
 * of gpg's hashing while the image decodes on every core (docs/performance.md). A mirror without the list
 * gets the image's signature checked.
 */
export type ImageEvidence = { kind: 'digests'; list: string } | { kind: 'signature' };

/** The image's signed checksum list from the cache or the mirror, else (when the mirror has none) its signature. */
export async function fetchImageEvidence(ctx: Context, release: ResolvedRelease): Promise<ImageEvidence> {
  try {
    const list = await downloadReleaseFile(ctx, release, `${IMAGE_BZ2}${DIGESTS}`);
    return { kind: 'digests', list };
  } catch (error) {
    const missing = notFoundUrl(error);
    if (missing === undefined) throw error;
    ctx.log.debug(`no signed ${IMAGE_BZ2}${DIGESTS} on the mirror (${missing}); checking the image's own signature`);
  }
  await downloadSignature(ctx, release, IMAGE_BZ2);
  return { kind: 'signature' };
}

/** Downloads the image, taking its SHA-512 on the way when its checksum list is to vouch for it. */
export async function downloadImage(
  ctx: Context,
  release: ResolvedRelease,
  evidence: ImageEvidence,
  options: FetchOptions,
): Promise<DownloadResult> {
  const hashing = evidence.kind === 'digests' ? { sha512: true as const } : {};
  return ctx.http.download(`${release.baseUrl}/${IMAGE_BZ2}`, releaseFilePath(ctx, release, IMAGE_BZ2), {
    ...options,
    ...hashing,
  });
}

/** gpg checking the image's signature over its bytes as they download (see verifyWhileDownloading). */
export interface StreamedSignature {
  follower: FileFollower;
  good: Promise<boolean>;
}

/** Verifies the image once, by its evidence, using what was worked out while it downloaded. */
export async function verifyImage(
  ctx: Context,
  path: string,
  evidence: ImageEvidence,
  streamed: { sha512?: string | undefined; signature?: StreamedSignature | undefined },
): Promise<void> {
  if (evidence.kind === 'digests') return verifyByDigests(ctx, path, evidence.list, streamed.sha512);
  if (streamed.signature)
    await acceptStreamedVerification(path, streamed.signature.follower, await streamed.signature.good);
  await verifyReleaseFile(ctx, path);
}

/**
 * Checks a file against its signed checksum list: the list's signature (once, like any release file),
 * then the file's SHA-512, as taken during the download or else read from the file. A mismatch deletes
 * the file and the list with its signature from the cache: the list may be the stale one (upstream
 * republished both), so the next run downloads both again instead of failing for ever.
 */
async function verifyByDigests(ctx: Context, path: string, list: string, sha512: string | undefined): Promise<void> {
  const evidence = [path, list, `${list}.sig`];
  const marker = verifiedMarker(path);
  if (await markerMatches(marker, evidence, '', 'identity')) return;
  await verifyReleaseFile(ctx, list);
  const [name, listName] = [basename(path), basename(list)];
  const expected = findFlatcarSha512(await readFile(list, 'utf8'), name);
  if (expected === undefined) {
    await forget([list, `${list}.sig`, verifiedMarker(list)]);
    throw verifyError(
      `${listName} does not list exactly one SHA-512 for ${name}`,
      'the list was deleted from the cache; retry, or check the mirror',
    );
  }
  if ((sha512 ?? (await hashFile(path, 'sha512'))) !== expected) {
    await forget([path, marker, list, `${list}.sig`, verifiedMarker(list)]);
    throw verifyError(
      `${name} does not match the SHA-512 in its signed ${listName} (corrupt or tampered)`,
      'the download and its list were deleted from the cache; retry, or check the mirror',
    );
  }
  await writeMarker(marker, evidence, '', 'identity');
}

/** Deletes cache files that failed (or vouched for what failed) verification, so the next run fetches them again. */
async function forget(paths: string[]): Promise<void> {
  await Promise.all(paths.map((path) => rm(path, { force: true })));
}

/**
 * Checks the signature over the file's bytes while it downloads (`follower` reads them as they arrive).
 * True only for a good signature by the signing key; any doubt gives false, and verifyReleaseFile then
 * checks the finished file as usual, with its error messages and key rotation. Never rejects.
 */
export async function verifyWhileDownloading(ctx: Context, path: string, follower: FileFollower): Promise<boolean> {
  try {
    await verifySignature(ctx, await endpointKey(ctx, 'signingKey'), path, `${path}.sig`, follower.readable);
    return true;
  } catch (error) {
    follower.readable.destroy();
    ctx.log.debug(
      `checking the signature during the download did not work out (${(error as Error).message}); checking the finished file`,
    );
    return false;
  }
}

/**
 * Records a streamed check as the file's verification, if it covered exactly the finished file: the
 * follower read the file from its first byte to the end the download left.
 */
async function acceptStreamedVerification(path: string, follower: FileFollower, good: boolean): Promise<void> {
  if (good && follower.bytesRead() === (await stat(path)).size)
    await writeMarker(verifiedMarker(path), [path, `${path}.sig`], '', 'identity');
}

/** Verifies a downloaded file against its `.sig` once; a file that fails is deleted with its signature. */
export async function verifyReleaseFile(ctx: Context, path: string): Promise<void> {
  const sig = `${path}.sig`;
  const marker = verifiedMarker(path);
  if (await markerMatches(marker, [path, sig], '', 'identity')) return;
  try {
    await verifyWithEndpointKey(ctx, 'signingKey', path, sig);
  } catch (error) {
    await forget([path, sig, marker]);
    throw error;
  }
  await writeMarker(marker, [path, sig], '', 'identity');
}

/** Both of the above: a release file that is in the cache and verified. */
export async function fetchReleaseFile(
  ctx: Context,
  release: ResolvedRelease,
  file: string,
  options: FetchOptions = {},
): Promise<string> {
  const path = await downloadReleaseFile(ctx, release, file, options);
  await verifyReleaseFile(ctx, path);
  return path;
}
