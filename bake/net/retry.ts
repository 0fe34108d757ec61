/**
 * When and how long to wait before trying a request again. Kept apart from the HTTP code so the policy
 * (which failures are transient, how the delay grows) is plain data and pure functions, tested alone.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryPolicy {
  /** Retries after the first attempt; 5 means up to 6 attempts. */
  retries: number;
  /** Delay before the first retry; doubles each time. */
  retryDelayMs: number;
  /** No computed delay exceeds this. */
  maxRetryDelayMs: number;
}

/** A Retry-After longer than this is not honoured; we fall back to our own backoff (and may give up). */
const MAX_HONOURED_RETRY_AFTER_MS = 30_000;

/** A server answered with a status we did not want; carried through the retry loop, mapped to a BakeError at the end. */
export class HttpStatusError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly statusText: string,
    /** Raw Retry-After header, when the server sent one. */
    readonly retryAfter?: string,
  ) {
    super(`${status} ${statusText} from ${url}`);
    this.name = 'HttpStatusError';
  }
}

/** Error codes from node and undici that mean "the connection failed; the server may be fine next time". */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

/** The error code of an error or of the error it wraps (undici wraps socket errors in `cause`). */
export function errorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR') return code;
    current = current.cause;
  }
  return undefined;
}

export function isRetryable(error: unknown): boolean {
  if (error instanceof HttpStatusError) return error.status >= 500 || error.status === 429;
  const code = errorCode(error);
  return code !== undefined && TRANSIENT_CODES.has(code);
}

/** Retry-After in milliseconds (seconds or an HTTP date), or undefined when absent, unparsable or too long to wait. */
export function parseRetryAfter(header: string | undefined, now = Date.now()): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const trimmed = header.trim();
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : Date.parse(trimmed) - now;
  if (!Number.isFinite(ms)) return undefined;
  const clamped = Math.max(0, ms);
  return clamped <= MAX_HONOURED_RETRY_AFTER_MS ? clamped : undefined;
}

/**
 * The wait before retry number `retry` (1-based): exponential, capped, with jitter (50–100 % of the
 * step) so many clients that failed together do not come back together. A small Retry-After wins.
 */
export function retryDelay(retry: number, policy: RetryPolicy, error?: unknown, random = Math.random): number {
  if (error instanceof HttpStatusError) {
    const retryAfter = parseRetryAfter(error.retryAfter);
    if (retryAfter !== undefined) return retryAfter;
  }
  const step = Math.min(policy.maxRetryDelayMs, policy.retryDelayMs * 2 ** (retry - 1));
  return Math.round(step * (0.5 + random() / 2));
}

/** Sleeps, but wakes (and throws) as soon as the signal aborts. */
export async function waitBeforeRetry(ms: number, signal?: AbortSignal): Promise<void> {
  await sleep(ms, undefined, signal ? { signal } : undefined);
}
