/**
 * Sending one file over node:http the way download clients expect: HEAD, a single byte range
 * (systemd-pull and bake's own downloader resume with Range), Content-Length, content types.
 * Used by `bake repo serve` and `bake boot`'s file server, and by the test mirror.
 */

import type { Stats } from 'node:fs';
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname } from 'node:path';
import { pipeline } from 'node:stream/promises';

const CONTENT_TYPES: Record<string, string> = {
  '.raw': 'application/octet-stream',
  '.conf': 'text/plain; charset=utf-8',
  '.transfer': 'text/plain; charset=utf-8',
  '.gpg': 'application/pgp-signature',
  '.asc': 'application/pgp-signature',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.sig': 'application/pgp-signature',
  '.html': 'text/html; charset=utf-8',
};

export function contentType(file: string): string {
  if (file.endsWith('SHA256SUMS')) return 'text/plain; charset=utf-8';
  return CONTENT_TYPES[extname(file)] ?? 'application/octet-stream';
}

const READ_CHUNK = 1 << 20;

/**
 * The decoded path of a request target, or undefined when the target is malformed (bad percent-encoding,
 * an encoded NUL, not a URL): the caller answers 400 rather than letting a client's bytes throw.
 */
export function requestPath(url: string | undefined): string | undefined {
  try {
    const path = decodeURIComponent(new URL(url ?? '/', 'http://request').pathname);
    return path.includes('\0') ? undefined : path;
  } catch {
    return undefined;
  }
}

export function answerBadRequest(res: ServerResponse): number {
  res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end('bad request\n');
  return 400;
}

export type ByteRange = { start: number; end: number } | 'unsatisfiable' | undefined;

/** A single `bytes=` range (end inclusive); several ranges are answered with the whole file, as RFC 9110 allows. */
export function parseRange(header: string | undefined, size: number): ByteRange {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  return start >= size || end < start ? 'unsatisfiable' : { start, end };
}

/** A strong ETag for this version of a file: its size and modification time (to the microsecond). */
export function entityTag(stats: Stats): string {
  return `"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs * 1000).toString(16)}"`;
}

/** The headers that let a client resume only the version it has: ETag and Last-Modified. */
export function validatorHeaders(stats: Stats): { ETag: string; 'Last-Modified': string } {
  return { ETag: entityTag(stats), 'Last-Modified': stats.mtime.toUTCString() };
}

/**
 * The Range header to honour: none when If-Range names another version than the file's, so a client
 * resuming a file that changed gets the whole new one instead of the new one's tail (RFC 9110 §13.1.5).
 */
export function rangeToHonour(req: IncomingMessage, stats: Stats): string | undefined {
  const { range, 'if-range': ifRange } = req.headers;
  if (ifRange === undefined) return range;
  return typeof ifRange === 'string' && Object.values(validatorHeaders(stats)).includes(ifRange) ? range : undefined;
}

/** Answers GET or HEAD for `file` (already resolved and stat'ed by the caller); returns the status sent. */
export async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, stats: Stats): Promise<number> {
  const range = parseRange(rangeToHonour(req, stats), stats.size);
  const headers: Record<string, string | number> = {
    'Content-Type': contentType(file),
    'Accept-Ranges': 'bytes',
    ...validatorHeaders(stats),
  };
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${stats.size}` }).end();
    return 416;
  }
  const { start, end } = range ?? { start: 0, end: stats.size - 1 };
  const status = range ? 206 : 200;
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${stats.size}`;
  res.writeHead(status, { ...headers, 'Content-Length': Math.max(0, end - start + 1) });
  if (req.method === 'HEAD' || stats.size === 0) {
    res.end();
    return status;
  }
  // Read in 1 MiB pieces, not the default 64 KiB: that halves the server's CPU (docs/performance.md),
  // CPU the guest or client on the same machine would otherwise lack.
  await pipeline(createReadStream(file, { start, end, highWaterMark: READ_CHUNK }), res).catch(() => res.destroy()); // client went away
  return status;
}
