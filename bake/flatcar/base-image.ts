/**
 * The verified, decompressed base image, kept in the cache beside its bz2 so that a warm bake copies it
 * (sparse, or reflink where the filesystem can) instead of decompressing gigabytes again. On a cold cache
 * the image is decompressed, while the bz2 is still downloading, straight into the bake's work directory;
 * once the signature has been verified that becomes the image bake modifies, and a copy of it goes into
 * the cache. Nothing unverified is ever used or kept.
 */
import { access, chmod, type FileHandle, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.ts';
import { markerMatches, privateCacheDir, thisBoot, writeMarker } from '../core/cache.ts';
import { BakeError, oneLine, verifyError } from '../core/errors.ts';
import { parseKeyValueFile } from '../core/key-value.ts';
import { type DecodeProgress, watchDecoding } from '../image/decode-progress.ts';
import { type Bz2Source, decompressBz2 } from '../image/decompress.ts';
import { GrowingFileReader } from '../image/growing-file.ts';
import type { ResolvedRelease } from './release.ts';
import {
  IMAGE_BIN,
  IMAGE_BZ2,
  type ImageEvidence,
  releaseFilePath,
  type StreamedSignature,
  VERSION_TXT,
  verifyWhileDownloading,
} from './release-files.ts';
import { checkImageIsRelease } from './usr-release.ts';

/** version.txt is signed: it must name the release we asked for, or the mirror served the wrong one. */
export async function checkVersionTxt(path: string, release: ResolvedRelease): Promise<Record<string, string>> {
  const values = parseKeyValueFile(await readFile(path, 'utf8'));
  if (values.FLATCAR_VERSION !== release.version && values.FLATCAR_VERSION_ID !== release.version) {
    throw verifyError(
      `version.txt of ${release.version} says FLATCAR_VERSION=${values.FLATCAR_VERSION ?? '(none)'}`,
      'the release directory does not hold the requested release; check --release-url',
    );
  }
  return values;
}

function basePaths(ctx: Context, release: ResolvedRelease) {
  const path = releaseFilePath(ctx, release, IMAGE_BIN);
  return {
    bz2: releaseFilePath(ctx, release, IMAGE_BZ2),
    path,
    partial: `${path}.partial`,
    marker: `${path}.complete`,
  };
}

/** Decompression (and any signature check) running alongside the download; their promises never reject. */
export interface StreamingDecompression {
  reader: GrowingFileReader;
  /** Where the image is being decompressed to (beside the work image), renamed only after verification. */
  partial: string;
  outcome: Promise<{ ok: true } | { ok: false; error: unknown }>;
  /** gpg reading the same download, when the image's own signature is its evidence. */
  signature?: StreamedSignature;
}

const decodingPath = (workImage: string) => `${workImage}.partial`;

/**
 * Starts decompressing the bz2 (beside `workImage`) as it downloads, unless it is already cached, and
 * checking its signature on the way when that is its evidence (then the signature is already fetched).
 */
export async function startStreamingDecompression(
  ctx: Context,
  release: ResolvedRelease,
  workImage: string,
  evidence: ImageEvidence,
): Promise<StreamingDecompression | undefined> {
  const paths = basePaths(ctx, release);
  if (
    await access(paths.bz2).then(
      () => true,
      () => false,
    )
  )
    return undefined;
  const reader = new GrowingFileReader(`${paths.bz2}.partial`, paths.bz2);
  const partial = decodingPath(workImage);
  const outcome = decompressTo(ctx, reader.follow().readable, partial).then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (evidence.kind !== 'signature') return { reader, partial, outcome };
  const follower = reader.follow();
  return { reader, partial, outcome, signature: { follower, good: verifyWhileDownloading(ctx, paths.bz2, follower) } };
}

/**
 * Decompression is bound by the CPU and leaves the disk idle, so the image is written back while it is
 * decoded (see writeBackWhile). Every flush briefly holds up the sparse writer, and so the decoder: once
 * a second costs nothing measurable (docs/performance.md), ten times a second does.
 */
const DECODE_WRITE_BACK_PAUSE_MS = 1000;

/** Decompresses `source` into `partial` as a cold bake does (also the bench's floor); removes it on failure. */
export async function decompressTo(ctx: Context, source: Bz2Source, partial: string): Promise<void> {
  try {
    await rm(partial, { force: true });
    await writeBackWhile(decompressBz2(ctx, source, partial), partial, DECODE_WRITE_BACK_PAUSE_MS);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/**
 * Ends a streaming decompression and removes what it left that was not taken into use: always safe to
 * call, and called on every way out of a bake (a failed download or verification, Ctrl-C, success).
 */
export async function settle(streaming: StreamingDecompression): Promise<void> {
  streaming.reader.fail(new BakeError('interrupted', 'the bake ended before the download did'));
  await Promise.all([streaming.outcome, streaming.signature?.good]);
  await rm(streaming.partial, { force: true });
}

/**
 * The decompressed base image of a verified bz2. From the cache, when it is there: then the caller copies
 * it to the work image. Otherwise decompressed into `workImage` (by the streaming run, or now), and a
 * copy of it is kept in the cache, made before bake modifies the work image.
 */
export async function decompressedBaseImage(
  ctx: Context,
  release: ResolvedRelease,
  workImage: string,
  streaming?: StreamingDecompression,
  onProgress?: (progress: DecodeProgress) => void,
): Promise<{ path: string; cached: boolean }> {
  const paths = basePaths(ctx, release);
  const trusted = await privateCacheDir(ctx.cacheDir);
  if (trusted && (await cachedImageReady(paths))) return { path: paths.path, cached: true };
  const decoded = decodingPath(workImage);
  await decode(ctx, paths.bz2, decoded, streaming, onProgress);
  await rename(decoded, workImage);
  await chmod(workImage, 0o644); // it came through a private FIFO; the output is an ordinary file
  await checkIsRelease(ctx, release, workImage, paths);
  if (trusted) await keepInCache(ctx, workImage, paths);
  else
    ctx.log.warn(
      `not keeping the base image in ${ctx.cacheDir}: it belongs to another user, who could change it unseen`,
    );
  return { path: paths.path, cached: false };
}

/** How often a decoding image's size is looked at for the progress line. */
const DECODE_PROGRESS_INTERVAL_MS = 500;

/** Waits for the streaming decompression, or decompresses the verified bz2 now when that did not work out. */
async function decode(
  ctx: Context,
  bz2: string,
  decoded: string,
  streaming: StreamingDecompression | undefined,
  onProgress?: (progress: DecodeProgress) => void,
): Promise<void> {
  await using _watching = onProgress ? watchDecoding(decoded, onProgress, DECODE_PROGRESS_INTERVAL_MS) : undefined;
  const streamed = streaming ? await streaming.outcome : undefined;
  if (streamed?.ok) return;
  if (streamed) {
    if (streamed.error instanceof BakeError && streamed.error.kind === 'interrupted') throw streamed.error;
    ctx.log.debug(
      `decompressing during the download did not work out (${(streamed.error as Error).message}); decompressing the verified file`,
    );
  }
  await decompressTo(ctx, bz2, decoded);
}

type BasePaths = ReturnType<typeof basePaths>;

/**
 * Before the image is kept or published: is it the release asked for? If not, its bz2 leaves the cache
 * too (its signature was good, but for another release), so the next bake downloads it again.
 */
async function checkIsRelease(ctx: Context, release: ResolvedRelease, image: string, paths: BasePaths): Promise<void> {
  const versionTxt = parseKeyValueFile(await readFile(releaseFilePath(ctx, release, VERSION_TXT), 'utf8'));
  try {
    await checkImageIsRelease(ctx, image, release, versionTxt);
  } catch (error) {
    if (error instanceof BakeError && error.kind === 'verify') await rm(paths.bz2, { force: true });
    throw error;
  }
}

/**
 * Nobody waits for the cache's copy to reach the disk, so it is a plain sparse copy, and its marker is
 * good for this boot only (see thisBoot and cachedImageReady). The marker is an identity marker: a warm
 * bake trusts the copy without reading its gigabytes, so only the very file bake wrote will do.
 */
async function keepInCache(ctx: Context, image: string, paths: BasePaths): Promise<void> {
  try {
    await sparseCopy(ctx, image, paths.partial, 'keep the base image in the cache');
    await rename(paths.partial, paths.path);
    await writeMarker(paths.marker, [paths.path, paths.bz2], await thisBoot(), 'identity');
  } catch (error) {
    await Promise.all([paths.partial, paths.path, paths.marker].map((path) => rm(path, { force: true })));
    if (error instanceof BakeError && error.kind === 'interrupted') throw error;
    // The bake itself has what it needs; a full (or read-only) cache only costs the next bake a decompression.
    ctx.log.warn(
      `could not keep a copy of the base image in the cache (${oneLine(error)}); the next bake decompresses it again`,
    );
  }
}

/** The kernel writes dirty pages back within ~35 s; a copy this old has surely reached the disk. */
const WRITTEN_BACK_AFTER_MS = 120_000;

/**
 * Whether the cached image can be used: once confirmed on disk, or when copied in this boot (the page
 * cache holds it then, whatever reached the disk). A copy from this boot that is old enough is confirmed
 * on the way, by a flush that finds nothing left to write; one from an earlier boot that never was is
 * not trusted, and the image is decompressed again.
 */
async function cachedImageReady(paths: BasePaths): Promise<boolean> {
  const files = [paths.path, paths.bz2];
  if (await markerMatches(paths.marker, files, '', 'identity')) return true;
  if (!(await markerMatches(paths.marker, files, await thisBoot(), 'identity'))) return false;
  if (Date.now() - (await stat(paths.marker)).mtimeMs >= WRITTEN_BACK_AFTER_MS) {
    const image = await open(paths.path, 'r');
    try {
      await image.datasync();
    } finally {
      await image.close();
    }
    await writeMarker(paths.marker, files, '', 'identity');
  }
  return true;
}

const sparseCopy = (ctx: Context, from: string, to: string, why: string) =>
  ctx.run.run('cp', ['--sparse=always', '--reflink=auto', from, to], { why });

/**
 * A sparse (or reflinked) copy of the cached base image, which bake then modifies, written back while cp
 * still copies (see writeBackWhile).
 */
export async function copyImage(ctx: Context, from: string, to: string): Promise<void> {
  await writeBackWhile(sparseCopy(ctx, from, to, 'copy the base image'), to, COPY_WRITE_BACK_PAUSE_MS);
  await chmod(to, 0o644); // an ordinary file, as it would be under any umask, like a decompressed one
}

const COPY_WRITE_BACK_PAUSE_MS = 5;

/**
 * Flushes `path` to disk again and again while `writer` (which writes it) runs, and once after it.
 * Attaching a loop device to an image makes the kernel write all of it back first (loop_configure fsyncs
 * its backing file), ~0.15 s of waiting for 300 MiB of data; flushing while the image is written
 * overlaps that wait with the writing, and the attach finds next to nothing left.
 */
async function writeBackWhile(writer: Promise<unknown>, path: string, pauseMs: number): Promise<void> {
  let writing = true;
  const ended = writer
    .then(
      () => undefined,
      () => undefined,
    )
    .finally(() => {
      writing = false;
    });
  let file: FileHandle | undefined;
  try {
    while (writing) {
      file ??= await open(path, 'r').catch(() => undefined);
      // Failures here are the writer's to report (a full disk fails cp with a better message).
      await file?.datasync().catch(() => undefined);
      await Promise.race([ended, sleep(pauseMs)]);
    }
    await writer;
    file ??= await open(path, 'r').catch(() => undefined); // absent on a dry run
    await file?.datasync();
  } finally {
    await file?.close();
  }
}
