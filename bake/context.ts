/**
 * What every stage receives: how to log, run commands, talk HTTP, where the cache is, and the abort
 * signal that Ctrl-C trips. Built once by the CLI (or by a test) and passed down; nothing is global.
 */

import { withoutUndefined } from './core/defined.ts';
import { defaultCacheDir, type Endpoints, resolveEndpoints } from './core/endpoints.ts';
import { createRunner, type Runner } from './core/exec.ts';
import { resolveJobs } from './core/jobs.ts';
import { createLogger, type Logger } from './core/log.ts';
import { createHttp, type HttpClient, type HttpOptions } from './net/http.ts';

export interface Context {
  log: Logger;
  run: Runner;
  http: HttpClient;
  signal: AbortSignal;
  dryRun: boolean;
  json: boolean;
  cacheDir: string;
  endpoints: Endpoints;
  /** Threads and parallel jobs bake may use (--jobs, BAKE_JOBS, else the usable CPUs; see core/jobs.ts). */
  jobs: number;
}

export interface ContextOptions {
  verbose?: boolean;
  quiet?: boolean;
  dryRun?: boolean;
  json?: boolean;
  cacheDir?: string;
  endpoints?: Partial<Endpoints>;
  signal?: AbortSignal;
  log?: Logger;
  jobs?: number;
}

/**
 * Retry, timeout and size knobs for slow or flaky mirrors (and for tests, which cannot wait for the
 * defaults): BAKE_HTTP_RETRIES, BAKE_HTTP_RETRY_DELAY_MS, BAKE_HTTP_TIMEOUT_MS, BAKE_HTTP_DEADLINE_MS,
 * BAKE_HTTP_MAX_BYTES.
 */
export function httpTuning(
  env: NodeJS.ProcessEnv,
): Partial<
  Pick<
    HttpOptions,
    'retries' | 'retryDelayMs' | 'headersTimeoutMs' | 'bodyTimeoutMs' | 'deadlineMs' | 'maxDownloadBytes'
  >
> {
  const number = (name: string) =>
    env[name] !== undefined && /^\d+$/.test(env[name]!) ? Number(env[name]) : undefined;
  const retries = number('BAKE_HTTP_RETRIES');
  const retryDelayMs = number('BAKE_HTTP_RETRY_DELAY_MS');
  const timeout = number('BAKE_HTTP_TIMEOUT_MS');
  const deadlineMs = number('BAKE_HTTP_DEADLINE_MS');
  const maxDownloadBytes = number('BAKE_HTTP_MAX_BYTES');
  return withoutUndefined({
    retries,
    retryDelayMs,
    headersTimeoutMs: timeout,
    bodyTimeoutMs: timeout,
    deadlineMs,
    maxDownloadBytes,
  });
}

export function createContext(options: ContextOptions = {}): Context {
  const log = options.log ?? createLogger({ verbose: options.verbose ?? false, quiet: options.quiet ?? false });
  const signal = options.signal ?? new AbortController().signal;
  const dryRun = options.dryRun ?? false;
  return {
    log,
    signal,
    dryRun,
    json: options.json ?? false,
    run: createRunner({ log, dryRun, signal }),
    http: createHttp({ log, signal, ...httpTuning(process.env) }),
    cacheDir: options.cacheDir ?? defaultCacheDir(),
    endpoints: resolveEndpoints(options.endpoints ?? {}),
    jobs: options.jobs ?? resolveJobs(process.env.BAKE_JOBS),
  };
}
