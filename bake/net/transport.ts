/**
 * The choke point every HTTP request goes through: one undici Agent, per-host extra headers, redirects
 * followed by hand (so each hop is logged and gets its own host's headers), a debug line per request,
 * and the retry loop that turns the last failure into a BakeError, under one total deadline.
 */
import { STATUS_CODES } from 'node:http';
import { Agent, type Dispatcher, request } from 'undici';
import { interruptedError, networkError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { requestFailure } from './failure.ts';
import { Deadline } from './limits.ts';
import { errorCode, HttpStatusError, isRetryable, type RetryPolicy, retryDelay, waitBeforeRetry } from './retry.ts';

const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export interface TransportOptions extends RetryPolicy {
  log: Logger;
  signal?: AbortSignal;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** The size-independent part of every request's total deadline (see Deadline). */
  deadlineMs: number;
  /** The average rate a request must keep beyond deadlineMs. */
  minBytesPerSecond: number;
  userAgent: string;
  headers?: (url: string) => Record<string, string>;
}

export interface Response {
  /** Where the response came from, after redirects. */
  url: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

export type Method = 'GET' | 'HEAD';

/** One try of a request: the signal its requests must use (the caller's and the deadline's). */
export interface Attempt {
  signal: AbortSignal;
  /** Counts body bytes received, each of which extends the deadline. */
  received(bytes: number): void;
}

/** A header's single value (undici gives arrays for repeated headers). */
export function header(response: Response, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Content-Length as a number, when the server sent a well-formed one (it is only ever a claim). */
export function contentLength(response: Response): number | undefined {
  const value = header(response, 'content-length');
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = errorCode(error);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

export class Transport {
  private readonly agent: Agent;

  constructor(private readonly options: TransportOptions) {
    this.agent = new Agent({
      connect: { timeout: options.headersTimeoutMs },
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
    });
  }

  get log(): Logger {
    return this.options.log;
  }

  get signal(): AbortSignal | undefined {
    return this.options.signal;
  }

  /** One attempt: sends the request, following redirects. The caller must consume or dump the body. */
  async send(
    attempt: Attempt,
    method: Method,
    url: string,
    extraHeaders: Record<string, string> = {},
  ): Promise<Response> {
    let current = url;
    for (let hop = 0; ; hop++) {
      const headers = { 'user-agent': this.options.userAgent, ...this.options.headers?.(current), ...extraHeaders };
      const shown = `${method} ${current}${extraHeaders.range ? ` (${extraHeaders.range})` : ''}`;
      let response: Dispatcher.ResponseData;
      try {
        response = await request(current, { dispatcher: this.agent, method, headers, signal: attempt.signal });
      } catch (error) {
        this.log.debug(`${shown} → ${describe(error)}`);
        throw error;
      }
      this.log.debug(`${shown} → ${response.statusCode}`);
      const location = response.headers.location;
      if (!REDIRECT_STATUSES.has(response.statusCode) || typeof location !== 'string') {
        return { url: current, status: response.statusCode, headers: response.headers, body: response.body };
      }
      await response.body.dump();
      if (hop >= MAX_REDIRECTS)
        throw networkError(`too many redirects from ${url}`, 'check the URL; the server redirects in a loop');
      current = this.redirectTarget(url, current, location);
    }
  }

  private redirectTarget(original: string, current: string, location: string): string {
    const next = new URL(location, current);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw networkError(`${current} redirected to unsupported ${next.href}`, `check the URL ${original}`);
    }
    return next.href;
  }

  /** Throws (after dumping the body) unless the response has one of the accepted statuses. */
  async expect(response: Response, accepted: (status: number) => boolean): Promise<void> {
    if (accepted(response.status)) return;
    await response.body.dump().catch(() => undefined);
    const statusText = STATUS_CODES[response.status] ?? 'Unknown Status';
    throw new HttpStatusError(response.url, response.status, statusText, header(response, 'retry-after'));
  }

  /**
   * Runs `attempt` until it succeeds, a failure is not worth retrying, or the retries run out; waits with
   * backoff between attempts. All attempts and waits share one deadline. Abort wins over everything and
   * keeps its reason; a passed deadline comes next and is not retried.
   */
  async retrying<T>(what: string, url: string, attempt: (attempt: Attempt) => Promise<T>): Promise<T> {
    const { retries, signal } = this.options;
    using deadline = new Deadline(this.options.deadlineMs, this.options.minBytesPerSecond);
    const combined = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
    const received = (bytes: number) => deadline.count(bytes);
    for (let number = 1; ; number++) {
      try {
        if (combined.aborted) throw combined.reason;
        return await attempt({ signal: combined, received });
      } catch (error) {
        if (signal?.aborted) throw interruptedError(signal, what);
        if (deadline.expired) throw deadline.error(url);
        if (!isRetryable(error) || number > retries) throw requestFailure(url, error, number);
        const delay = retryDelay(number, this.options, error);
        this.log.debug(`${what}: ${describe(error)}; retry ${number} of ${retries} in ${delay} ms`);
        await waitBeforeRetry(delay, combined).catch(() => undefined);
      }
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
