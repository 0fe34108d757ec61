/**
 * bake's one HTTP client. Every request goes through one Transport (logging, retries with backoff,
 * timeouts, redirects, errors that name the URL and status); downloads stream to disk, resume and verify.
 * `file://` URLs and absolute paths work everywhere a URL does, for air-gapped mirrors.
 */
import { networkError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { Downloader } from './download.ts';
import { localExists, localPath, readLocalText } from './local.ts';
import { Transport } from './transport.ts';

export interface DownloadProgress {
  url: string;
  received: number;
  total?: number;
}

export interface DownloadOptions {
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
  getText(url: string): Promise<string>;
  getJson<T = unknown>(url: string): Promise<T>;
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
  userAgent: 'bake (Flatcar image baker)',
};

const isSuccess = (status: number) => status >= 200 && status < 300;

/** Statuses that mean "HEAD is not supported here", so exists() asks with a one-byte GET instead. */
const HEAD_UNSUPPORTED = new Set([403, 405, 501]);

export function createHttp(options: HttpOptions): HttpClient {
  const transport = new Transport({ ...DEFAULTS, ...withoutUndefined(options), log: options.log });
  const downloader = new Downloader(transport);
  /** Concurrent downloads to one destination share one transfer instead of fighting over the partial file. */
  const inFlight = new Map<string, Promise<DownloadResult>>();

  async function getText(url: string): Promise<string> {
    const path = localPath(url);
    if (path !== undefined) return readLocalText(url, path);
    return transport.retrying(`fetching ${url}`, url, async () => {
      const response = await transport.send('GET', url);
      await transport.expect(response, isSuccess);
      return response.body.text();
    });
  }

  async function exists(url: string): Promise<boolean> {
    const path = localPath(url);
    if (path !== undefined) return localExists(path);
    return transport.retrying(`checking ${url}`, url, async () => {
      let response = await transport.send('HEAD', url);
      if (HEAD_UNSUPPORTED.has(response.status)) {
        await response.body.dump();
        response = await transport.send('GET', url, { range: 'bytes=0-0' });
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
    async getJson<T>(url: string): Promise<T> {
      const text = await getText(url);
      try {
        return JSON.parse(text) as T;
      } catch (error) {
        throw networkError(`invalid JSON from ${url}: ${(error as Error).message}`, 'check that the URL points at a JSON document');
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

/** Drops keys whose value is undefined so they do not override the defaults. */
function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
