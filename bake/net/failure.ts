/**
 * Turns whatever a request ended with (a status we did not want, a socket error, an abort) into the one
 * BakeError the user sees: one line naming the URL and what went wrong, plus a hint.
 */
import { type BakeError, isBakeError, networkError, notFoundError } from '../core/errors.ts';
import { errorCode, HttpStatusError } from './retry.ts';

/** Any endpoint can answer 404 (release server, bakery, upstream, repository), so the hint names no one of them. */
const NOT_FOUND_HINT =
  'check the version and architecture in the URL, and the base URL (the endpoint flag) it was built from';

/** Connection-level failures, by error code: what happened (given the host) and what to do. */
const CONNECTION_FAILURES: Array<{ codes: string[]; says: (host: string) => string; hint: string }> = [
  {
    codes: ['ECONNREFUSED'],
    says: (host) => `connection refused by ${host}`,
    hint: 'is the server running? check the base URL and port',
  },
  {
    codes: ['ENOTFOUND', 'EAI_AGAIN'],
    says: (host) => `cannot resolve host ${host}`,
    hint: 'check the host name in the URL and your network/DNS (or point the endpoint at a mirror)',
  },
  {
    codes: ['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'],
    says: (host) => `timed out talking to ${host}`,
    hint: 'the server or network is slow or down; try again later or use a mirror',
  },
  {
    codes: ['EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN'],
    says: (host) => `no route to ${host}`,
    hint: 'check your network connection (or point the endpoint at a mirror)',
  },
];

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

const attemptsText = (attempts: number) => (attempts === 1 ? '1 attempt' : `${attempts} attempts`);

function statusFailure(error: HttpStatusError, attempts: number): BakeError {
  if (error.status === 404 || error.status === 410) return notFoundError(error.url, NOT_FOUND_HINT);
  const hint =
    error.status === 401 || error.status === 403
      ? 'the server refused access; check the URL and any token you configured'
      : error.status === 429
        ? 'the server is rate-limiting us; wait a while or use a mirror'
        : 'the server failed; try again later or point the endpoint at a mirror';
  return networkError(`${error.status} ${error.statusText} from ${error.url} after ${attemptsText(attempts)}`, hint);
}

/** The final, user-facing error for a request that failed `attempts` times with `error` last. */
export function requestFailure(url: string, error: unknown, attempts: number): BakeError {
  if (isBakeError(error)) return error;
  if (error instanceof HttpStatusError) return statusFailure(error, attempts);
  const code = errorCode(error);
  const known = CONNECTION_FAILURES.find((failure) => code !== undefined && failure.codes.includes(code));
  if (known) return networkError(`${known.says(hostOf(url))} (${url}) after ${attemptsText(attempts)}`, known.hint);
  const detail = (error instanceof Error ? error.message : String(error)).split('\n')[0];
  return networkError(
    `request to ${url} failed after ${attemptsText(attempts)}: ${detail}${code ? ` (${code})` : ''}`,
    'check the URL and your network; try again later or point the endpoint at a mirror',
  );
}
