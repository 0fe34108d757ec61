/**
 * bake's one HTTP client. Every request goes through one Transport (logging, retries with backoff,
 * idle timeouts and a total deadline, redirects, errors that name the URL and status); every read has a
 * byte limit; downloads stream to disk, resume and verify.
 * `file://` URLs and absolute paths work everywhere a URL does, for air-gapped mirrors.
 */
import { withoutUndefined } from '../core/defined.ts';
import { networkError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { Downloader } from './download.ts';
import { DEADLINE_BASE_MS, LIMITS, MIN_BYTES_PER_SECOND, readBounded, TooLargeError } from './limits.ts';
import { localExists, localPath, readLocalText } from './local.ts';
import { contentLength, Transport } from './transport.ts';

export interface DownloadProgress {
  url: string;
  received: number;
  total?: number;
  /** What the partial file already held when this attempt began: > 0 when it resumed. */
  resumedFrom: number;
}

export interface ReadOptions {
  /** The most bytes the body may have (default LIMITS.text); more is a network error. */
  maxBytes?: number;
}

export interface DownloadOptions {
  /**
   * The most bytes the file may have (default: the client's maxDownloadBytes); more is a network error
   * and the partial file is removed. Downloads limited to RESUME_ABOVE_BYTES or less are never resumed
   * and leave no partial file behind on any failure.
   */
  maxBytes?: number;
  /** Expected SHA-256 (hex); checked while streaming, a mismatch deletes the download. */
  sha256?: string;
  /** Computes the SHA-512 of the file while it downloads, for the caller to check (not with `sha256`). */
  sha512?: true;
  onProgress?: (progress: DownloadProgress) => void;
  /** Called when bytes already in the partial file are thrown away, so readers following it can stop. */
  onRestart?: () => void;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  /** False when `dest` already existed and nothing was fetched. */
  downloaded: boolean;
  /** The hex SHA-512 of the whole file, when asked for and downloaded now. */
  sha512?: string;
}

export interface HttpClient {
  getText(url: string, options?: ReadOptions): Promise<string>;
  getJson<T = unknown>(url: string, options?: ReadOptions): Promise<T>;
  /** 2xx → true, 404 → false, other statuses (after retries) → error. */
  exists(url: string): Promise<boolean>;
  /** Atomic (temp + rename), resumable, skips an existing `dest`. */
  download(url: string, dest: string, options?: DownloadOptions): Promise<DownloadResult>;
}

export interface HttpOptions {
  log: Logger;
  signal?: AbortSignal;
  /** Retries after the first attempt (default 5). */
  retries?: number;
  /** First retry delay; doubles each retry, with jitter (default 500 ms). */
  retryDelayMs?: number;
  /** Cap on one retry delay (default 8 s). */
  maxRetryDelayMs?: number;
  /** Connect and response-headers timeout (default 30 s). */
  headersTimeoutMs?: number;
  /** Longest silence while receiving a body (default 60 s). */
  bodyTimeoutMs?: number;
  /** Each request's total deadline, retries included, before the time its bytes add (default 120 s; see Deadline). */
  deadlineMs?: number;
  /** Default byte limit of a download (default LIMITS.largeFile). */
  maxDownloadBytes?: number;
  userAgent?: string;
  /** Extra headers for a URL, e.g. a token for one host. Asked again for every redirect hop. */
  headers?: (url: string) => Record<string, string>;
}

const DEFAULTS = {
  retries: 5,
  retryDelayMs: 500,
  maxRetryDelayMs: 8_000,
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 60_000,
  deadlineMs: DEADLINE_BASE_MS,
  minBytesPerSecond: MIN_BYTES_PER_SECOND,
  maxDownloadBytes: LIMITS.largeFile,
  userAgent: 'bake (Flatcar image baker)',
};

const isSuccess = (status: number) => status >= 200 && status < 300;

/** Statuses that mean "HEAD is not supported here", so exists() asks with a one-byte GET instead. */
const HEAD_UNSUPPORTED = new Set([403, 405, 501]);

export function createHttp(options: HttpOptions): HttpClient {
  const settings = { ...DEFAULTS, ...withoutUndefined(options), log: options.log };
  const transport = new Transport(settings);
  const downloader = new Downloader(transport, settings.maxDownloadBytes);
  /** Concurrent downloads to one destination share one transfer instead of fighting over the partial file. */
  const inFlight = new Map<string, Promise<DownloadResult>>();

  async function getText(url: string, { maxBytes = LIMITS.text }: ReadOptions = {}): Promise<string> {
    const path = localPath(url);
    if (path !== undefined) return readLocalText(url, path, maxBytes);
    return transport.retrying(`fetching ${url}`, url, async (attempt) => {
      const response = await transport.send(attempt, 'GET', url);
      await transport.expect(response, isSuccess);
      if ((contentLength(response) ?? 0) > maxBytes) {
        response.body.destroy();
        throw new TooLargeError(url, maxBytes);
      }
      return (await readBounded(response.body, maxBytes, url, attempt.received)).toString('utf8');
    });
  }

  async function exists(url: string): Promise<boolean> {
    const path = localPath(url);
    if (path !== undefined) return localExists(path);
    return transport.retrying(`checking ${url}`, url, async (attempt) => {
      let response = await transport.send(attempt, 'HEAD', url);
      if (HEAD_UNSUPPORTED.has(response.status)) {
        await response.body.dump();
        response = await transport.send(attempt, 'GET', url, { range: 'bytes=0-0' });
      }
      // 416: the range does not fit an empty file, which still exists.
      await transport.expect(response, (status) => isSuccess(status) || status === 404 || status === 416);
      await response.body.dump();
      return response.status !== 404;
    });
  }

  return {
    getText,
    exists,
    async getJson<T>(url: string, readOptions?: ReadOptions): Promise<T> {
      const text = await getText(url, readOptions);
      try {
        return JSON.parse(text) as T;
      } catch (error) {
        throw networkError(
          `invalid JSON from ${url}: ${(error as Error).message}`,
          'check that the URL points at a JSON document',
        );
      }
    },
    download(url, dest, downloadOptions) {
      const running = inFlight.get(dest);
      if (running) return running;
      const started = downloader.download(url, dest, downloadOptions).finally(() => inFlight.delete(dest));
      inFlight.set(dest, started);
      return started;
    },
  };
}
