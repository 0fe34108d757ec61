/**
 * The one JSON shape of every command: a single object on stdout with `ok` and, on failure,
 * `error: {kind, message, hint?, exitCode}` (docs/schemas/). A command whose result is itself the news of
 * a failure (lint findings, a failed boot check) prints both in that one object; the CLI must then not
 * print a second object for the same error, so such errors are remembered here.
 */
import { toJson } from '../core/errors.ts';

const reported = new WeakSet<object>();

/** Prints `body` as the command's result: ok unless `failure` is given, which then rides along as `error`. */
export function printJson(body: object, failure?: unknown): void {
  if (typeof failure === 'object' && failure !== null) reported.add(failure);
  const outcome = failure === undefined ? { ok: true } : { ok: false, error: toJson(failure) };
  process.stdout.write(`${JSON.stringify({ ...outcome, ...body })}\n`);
}

/** Whether `error` was already printed inside its command's JSON result. */
export const reportedInJson = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && reported.has(error);

/** An error printed as the whole of a command's JSON output. */
export function printJsonError(error: unknown): void {
  process.stdout.write(`${JSON.stringify({ ok: false, error: toJson(error) })}\n`);
}
