/**
 * The error taxonomy. Every failure the user can act on is a BakeError of one kind; the kind alone
 * decides the exit code, so the CLI maps errors to exits in one place (see exitCodeFor).
 */
export type ErrorKind =
  | 'usage' // bad flags or arguments
  | 'input' // a file or value the user gave is wrong
  | 'tool' // an external command is missing or failed
  | 'network' // a download failed after its retries
  | 'verify' // a signature or checksum did not match
  | 'space' // an image partition is too small
  | 'exists' // the output exists and --force was not given
  | 'boot' // the image did not boot in the VM, or its boot check failed
  | 'interrupted' // SIGINT or SIGTERM
  | 'internal';

/**
 * Control characters (C0, DEL, C1) and bidirectional overrides shown as escapes: error text carries
 * bytes from servers and files (a JSON parser's excerpt, a name from a list), which must not move the
 * cursor, recolour or retitle the terminal, or reorder what the user reads.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters it escapes
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function escapeControl(text: string): string {
  return text.replace(UNPRINTABLE, (char) => {
    const code = char.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

const EXIT_CODES: Record<ErrorKind, number> = {
  usage: 2,
  input: 3,
  tool: 4,
  network: 5,
  verify: 6,
  space: 7,
  exists: 8,
  boot: 9,
  interrupted: 130,
  internal: 70,
};

/**
 * What code may need to tell apart within a kind, so that no caller reads an error's message text:
 * a URL that does not exist, a signature by a key other than the trusted one, a partition that cannot
 * grow because another follows it, a host tool that is not installed.
 */
export type ErrorReason = 'not-found' | 'unknown-signer' | 'not-last-partition' | 'tool-missing';

/**
 * Its message and hint are shown as given, on a terminal too (the stage list, the last line, --json), so
 * control characters in them are escaped here, once: they often quote bytes from servers and files.
 */
export class BakeError extends Error {
  /** What the user can do about it; printed after the message on the same line. */
  readonly hint?: string;

  constructor(
    readonly kind: ErrorKind,
    message: string,
    hint?: string,
    readonly reason?: ErrorReason,
    /** The URL a `not-found` error is about. */
    readonly url?: string,
  ) {
    super(escapeControl(message));
    this.name = 'BakeError';
    if (hint !== undefined) this.hint = escapeControl(hint);
  }
}

export const usageError = (message: string, hint?: string) => new BakeError('usage', message, hint);
export const inputError = (message: string, hint?: string) => new BakeError('input', message, hint);
export const toolError = (message: string, hint?: string) => new BakeError('tool', message, hint);
export const networkError = (message: string, hint?: string) => new BakeError('network', message, hint);
export const verifyError = (message: string, hint?: string) => new BakeError('verify', message, hint);
export const spaceError = (message: string, hint?: string) => new BakeError('space', message, hint);
export const bootError = (message: string, hint?: string) => new BakeError('boot', message, hint);

export function isBakeError(error: unknown): error is BakeError {
  return error instanceof BakeError;
}

/** Is this a BakeError of that reason? */
export function hasReason(error: unknown, reason: ErrorReason): error is BakeError {
  return isBakeError(error) && error.reason === reason;
}

/** A URL that does not exist (a 404, or a missing local file); notFoundUrl tells it apart. */
export const notFoundError = (url: string, hint: string) =>
  new BakeError('network', `not found: ${url}`, hint, 'not-found', url);

/** The URL of a notFoundError; undefined for any other error. */
export function notFoundUrl(error: unknown): string | undefined {
  return hasReason(error, 'not-found') ? error.url : undefined;
}

/** The error to throw when the caller's signal aborted: its reason if that is already ours. */
export function interruptedError(signal: AbortSignal | undefined, what: string): BakeError {
  return isBakeError(signal?.reason) ? signal.reason : new BakeError('interrupted', `interrupted while ${what}`);
}

export function exitCodeFor(error: unknown): number {
  return isBakeError(error) ? EXIT_CODES[error.kind] : EXIT_CODES.internal;
}

/** One line for a human: the message and, when known, what to do; nothing in it drives the terminal. */
export function oneLine(error: unknown): string {
  if (isBakeError(error)) return error.hint ? `${error.message}: ${error.hint}` : error.message;
  const message = error instanceof Error ? error.message : String(error);
  return `internal error: ${escapeControl(message.split('\n')[0]!)}`;
}

/** The `error` member of every command's --json output (docs/schemas/error.schema.json). */
export function toJson(error: unknown): { kind: ErrorKind; message: string; hint?: string; exitCode: number } {
  const exitCode = exitCodeFor(error);
  if (isBakeError(error))
    return { kind: error.kind, message: error.message, ...(error.hint ? { hint: error.hint } : {}), exitCode };
  return { kind: 'internal', message: escapeControl(error instanceof Error ? error.message : String(error)), exitCode };
}
