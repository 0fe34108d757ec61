/**
 * Downloads to a file: skip when the destination exists, stream into `<dest>.partial` up to a byte
 * limit, resume with Range and If-Range (only the version the partial file holds) after a dropped
 * connection or an earlier run, verify SHA-256 while streaming, then rename atomically.
 */
import { createReadStream } from 'node:fs';
import { lstat, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { HashAlgorithm } from '../core/checksums.ts';
import { interruptedError, verifyError } from '../core/errors.ts';
import type { DownloadOptions, DownloadResult } from './http.ts';
import { RESUME_ABOVE_BYTES, TooLargeError } from './limits.ts';
import { localPath, localSize } from './local.ts';
import { PartialFile } from './partial-file.ts';
import { type Attempt, contentLength, header, type Response, type Transport } from './transport.ts';

/** Thrown when a body ends before its announced length; retryable like a dropped socket. */
class ShortBodyError extends Error {
  readonly code = 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH';
}

/** `start` and `total` from `Content-Range: bytes start-end/total` (total may be `*`). */
function parseContentRange(value: string | undefined): { start: number; total?: number } | undefined {
  const match = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(value?.trim() ?? '');
  if (!match) return undefined;
  return { start: Number(match[1]), ...(match[2] !== '*' ? { total: Number(match[2]) } : {}) };
}

/**
 * What identifies the version of the file a response carries, for If-Range: a strong ETag, else
 * Last-Modified (a weak ETag cannot be used there).
 */
function validatorOf(response: Response): string | undefined {
  const etag = header(response, 'etag');
  if (etag !== undefined && !etag.startsWith('W/')) return etag;
  return header(response, 'last-modified');
}

/**
 * Whether a response to `Range: bytes=<from>-` with `If-Range: <validator>` continues our file exactly:
 * the right range of the same version (checked again here, for servers that ignore If-Range).
 */
function continuesAt(response: Response, from: number, validator: string | undefined): boolean {
  if (response.status !== 206 || parseContentRange(header(response, 'content-range'))?.start !== from) return false;
  const version = validatorOf(response);
  return version === undefined || version === validator;
}

const batchBytes = (batch: readonly Uint8Array[]) => batch.reduce((sum, chunk) => sum + chunk.length, 0);

/** The complete size of the file being fetched, when the server says. */
function totalSize(response: Response, from: number): number | undefined {
  if (response.status !== 206) return contentLength(response);
  const range = parseContentRange(header(response, 'content-range'));
  if (range?.total !== undefined) return range.total;
  const length = contentLength(response);
  return length === undefined ? undefined : from + length;
}

/**
 * Bodies arrive in ~64 KiB chunks; writing (and waking the readers that follow the file) per 256 KiB
 * instead costs a fraction of the CPU, which a 2-core machine decompressing at the same time feels.
 */
const WRITE_BATCH_BYTES = 256 << 10;

/** Groups chunks into batches of about `size` bytes; what arrived before an error is still handed on. */
async function* inBatches(body: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array[]> {
  let pending: Uint8Array[] = [];
  let bytes = 0;
  let failure: { error: unknown } | undefined;
  try {
    for await (const chunk of body) {
      pending.push(chunk);
      bytes += chunk.length;
      if (bytes < size) continue;
      yield pending;
      [pending, bytes] = [[], 0];
    }
  } catch (error) {
    failure = { error };
  }
  if (bytes > 0) yield pending;
  if (failure) throw failure.error;
}

/** What the partial file hashes while it grows: for the expected SHA-256, or the SHA-512 the caller asked for. */
function hashAlgorithm(options: DownloadOptions): HashAlgorithm | undefined {
  if (options.sha256 !== undefined) return 'sha256';
  return options.sha512 ? 'sha512' : undefined;
}

/** Empties the partial file, telling whoever follows it when bytes they may have read are gone. */
async function restart(file: PartialFile, options: DownloadOptions): Promise<void> {
  if (file.received > 0) options.onRestart?.();
  await file.restart();
}

export class Downloader {
  constructor(
    private readonly transport: Transport,
    private readonly defaultMaxBytes: number,
  ) {}

  async download(url: string, dest: string, options: DownloadOptions = {}): Promise<DownloadResult> {
    // lstat: a symlink planted at the destination is not a cached file; the rename below replaces it.
    const cached = await lstat(dest).catch(() => undefined);
    if (cached?.isFile()) {
      this.transport.log.debug(`cached: ${dest}`);
      return { path: dest, bytes: cached.size, downloaded: false };
    }
    await mkdir(dirname(dest), { recursive: true });
    const maxBytes = options.maxBytes ?? this.defaultMaxBytes;
    const worthResuming = maxBytes > RESUME_ABOVE_BYTES;
    const algorithm = hashAlgorithm(options);
    const file = await PartialFile.open(`${dest}.partial`, algorithm, worthResuming);
    try {
      const source = localPath(url);
      if (source === undefined) await this.fetchRemote(url, file, options, maxBytes);
      else await this.copyLocal(url, source, file, options, maxBytes);
      if (options.sha256 !== undefined) await this.verify(file, dest, options.sha256, url);
      const sha512 = algorithm === 'sha512' ? { sha512: file.digest() } : {};
      await file.commit(dest);
      return { path: dest, bytes: file.received, downloaded: true, ...sha512 };
    } catch (error) {
      // Keep a partial only when a later run can resume it; small files are simply fetched again.
      if (!worthResuming || !file.resumable || error instanceof TooLargeError) await file.discard();
      throw error;
    } finally {
      await file.close();
    }
  }

  private async verify(file: PartialFile, dest: string, expected: string, url: string): Promise<void> {
    const actual = file.digest();
    if (actual === expected.toLowerCase()) return;
    await file.discard();
    throw verifyError(
      `SHA-256 mismatch for ${dest}: expected ${expected.toLowerCase()}, got ${actual}`,
      `the copy from ${url} is corrupt or the file changed upstream; run again to download it afresh`,
    );
  }

  /** Each attempt resumes from what the file already holds; a drop mid-body costs one attempt. */
  private async fetchRemote(url: string, file: PartialFile, options: DownloadOptions, maxBytes: number): Promise<void> {
    await this.transport.retrying(`downloading ${url}`, url, async (attempt) => {
      const response = await this.openBody(attempt, url, file, options);
      const resumedFrom = file.received;
      const total = totalSize(response, resumedFrom);
      if (total !== undefined && total > maxBytes) {
        response.body.destroy();
        throw new TooLargeError(url, maxBytes);
      }
      for await (const batch of inBatches(response.body, WRITE_BATCH_BYTES)) {
        const bytes = batchBytes(batch);
        if (file.received + bytes > maxBytes) throw new TooLargeError(url, maxBytes);
        await file.append(batch);
        attempt.received(bytes);
        options.onProgress?.({ url, received: file.received, resumedFrom, ...(total !== undefined ? { total } : {}) });
      }
      if (total !== undefined && file.received !== total) {
        throw new ShortBodyError(`body of ${url} ended at ${file.received} of ${total} bytes`);
      }
    });
  }

  /**
   * Requests the rest of the version the partial file holds; falls back to the whole file (emptying the
   * partial) when the server will not resume or the file changed upstream meanwhile.
   */
  private async openBody(
    attempt: Attempt,
    url: string,
    file: PartialFile,
    options: DownloadOptions,
  ): Promise<Response> {
    const from = file.received;
    if (from > 0 && file.validator !== undefined) {
      const response = await this.transport.send(attempt, 'GET', url, {
        range: `bytes=${from}-`,
        'if-range': file.validator,
      });
      if (continuesAt(response, from, file.validator)) return response;
      if (response.status === 200) {
        this.transport.log.debug(`${url}: server sent the whole file (it changed, or ignores ranges); starting over`);
        await restart(file, options);
        file.remember(validatorOf(response));
        return response;
      }
      if (response.status !== 416 && response.status !== 206) {
        await this.transport.expect(response, () => false);
      }
      await response.body.dump();
      this.transport.log.debug(`${url}: cannot resume at byte ${from} (${response.status}); starting over`);
    }
    await restart(file, options);
    const response = await this.transport.send(attempt, 'GET', url);
    await this.transport.expect(response, (status) => status === 200);
    file.remember(validatorOf(response));
    return response;
  }

  private async copyLocal(
    url: string,
    source: string,
    file: PartialFile,
    options: DownloadOptions,
    maxBytes: number,
  ): Promise<void> {
    const total = await localSize(url, source);
    if (total > maxBytes) throw new TooLargeError(url, maxBytes);
    await restart(file, options);
    this.transport.log.debug(`copy ${source}`);
    const { signal } = this.transport;
    try {
      for await (const chunk of createReadStream(source, signal ? { signal } : {})) {
        if (file.received + (chunk as Buffer).length > maxBytes) throw new TooLargeError(url, maxBytes);
        await file.append([chunk as Buffer]);
        options.onProgress?.({ url, received: file.received, total, resumedFrom: 0 });
      }
    } catch (error) {
      if (signal?.aborted) throw interruptedError(signal, `copying ${source}`);
      throw error;
    }
  }
}
