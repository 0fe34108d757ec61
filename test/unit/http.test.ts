/**
 * The HTTP client's pure parts (retry policy, error wording) and its local sources (file:// URLs and
 * absolute paths, for air-gapped mirrors), which need no server.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { tempDir } from '../../bake/core/cleanup.ts';
import { BakeError, interruptedError, networkError, oneLine, toJson } from '../../bake/core/errors.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { requestFailure } from '../../bake/net/failure.ts';
import { createHttp } from '../../bake/net/http.ts';
import { HttpStatusError, isRetryable, parseRetryAfter, retryDelay } from '../../bake/net/retry.ts';

const policy = { retries: 5, retryDelayMs: 500, maxRetryDelayMs: 8000 };
const withCode = (code: string, message = code) => Object.assign(new Error(message), { code });

test('retry delays double, are capped, and carry 50–100 % jitter', () => {
  const highest = () => 0.999999;
  const lowest = () => 0;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((n) => retryDelay(n, policy, undefined, highest)),
    [500, 1000, 2000, 4000, 8000, 8000],
  );
  assert.deepEqual(
    [1, 2, 3].map((n) => retryDelay(n, policy, undefined, lowest)),
    [250, 500, 1000],
  );
});

test('a small Retry-After wins; a long or malformed one falls back to backoff', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now), 10_000);
  assert.equal(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('3600'), undefined);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(undefined), undefined);
  const rateLimited = new HttpStatusError('http://x/y', 429, 'Too Many Requests', '2');
  assert.equal(
    retryDelay(1, policy, rateLimited, () => 0),
    2000,
  );
  const patient = new HttpStatusError('http://x/y', 503, 'Service Unavailable', '86400');
  assert.equal(
    retryDelay(1, policy, patient, () => 0),
    250,
  );
});

test('5xx, 429 and connection errors are retried; other 4xx and unknown errors are not', () => {
  for (const status of [500, 502, 503, 504, 429])
    assert.equal(isRetryable(new HttpStatusError('u', status, '')), true, String(status));
  for (const status of [400, 401, 403, 404, 410])
    assert.equal(isRetryable(new HttpStatusError('u', status, '')), false, String(status));
  assert.equal(isRetryable(withCode('ECONNRESET')), true);
  assert.equal(isRetryable(new Error('fetch failed', { cause: withCode('ECONNREFUSED') })), true, 'wrapped in cause');
  assert.equal(isRetryable(withCode('UND_ERR_BODY_TIMEOUT')), true);
  assert.equal(isRetryable(new Error('boom')), false);
  assert.equal(isRetryable(new BakeError('verify', 'bad')), false);
});

test('failures become one-line network errors naming the URL, the status or the host', () => {
  const url = 'https://stable.release.flatcar-linux.net/amd64-usr/1.2.3/flatcar_production_image.bin.bz2';
  const notFound = requestFailure(url, new HttpStatusError(url, 404, 'Not Found'), 1);
  assert.equal(notFound.kind, 'network');
  assert.equal(notFound.message, `not found: ${url}`);
  assert.match(notFound.hint ?? '', /version|arch|base URL/);
  const failed = requestFailure(url, new HttpStatusError(url, 503, 'Service Unavailable'), 6);
  assert.equal(failed.message, `503 Service Unavailable from ${url} after 6 attempts`);
  const refused = requestFailure(url, new Error('fetch failed', { cause: withCode('ECONNREFUSED') }), 6);
  assert.equal(refused.message, `connection refused by stable.release.flatcar-linux.net (${url}) after 6 attempts`);
  assert.match(
    requestFailure(url, withCode('ENOTFOUND', 'getaddrinfo ENOTFOUND x'), 2).message,
    /^cannot resolve host stable\.release\.flatcar-linux\.net /,
  );
  const odd = requestFailure(url, withCode('EWEIRD', 'first line\nsecond line'), 1);
  assert.equal(odd.message, `request to ${url} failed after 1 attempt: first line (EWEIRD)`);
  for (const error of [notFound, failed, refused, odd]) assert.ok(!error.message.includes('\n'));
});

test('server text in an error is printed with its control characters escaped', () => {
  const hostile = networkError(
    'invalid JSON from http://x/releases.json: \x1b]0;owned\x07\x1b[2J\x9b31m\u202egnp.exe',
    'check \x1b[8mthe URL',
  );
  const line = oneLine(hostile);
  assert.equal(
    line,
    'invalid JSON from http://x/releases.json: \\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u202egnp.exe: check \\x1b[8mthe URL',
  );
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the assertion is that none are left
  assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u202e]/);
  assert.doesNotMatch(JSON.stringify(toJson(hostile)), /\\u001b|[\u0080-\u009f]/);
  assert.equal(oneLine(new Error('first \x1b[1mline\nsecond')), 'internal error: first \\x1b[1mline');
});

test('an abort keeps a BakeError reason, otherwise becomes an interrupted error', () => {
  const reason = new BakeError('interrupted', 'interrupted by SIGINT');
  assert.equal(interruptedError(AbortSignal.abort(reason), 'downloading x'), reason);
  const plain = interruptedError(AbortSignal.abort(), 'downloading x');
  assert.equal(plain.kind, 'interrupted');
  assert.match(plain.message, /downloading x/);
});

test('file:// URLs and absolute paths work for getText, getJson, exists and download', async () => {
  await using dir = await tempDir('bake-http-local');
  const source = join(dir.path, 'mirror', 'releases.json');
  await mkdir(join(dir.path, 'mirror'));
  const content = JSON.stringify({ '4081.2.0': { channel: 'stable' } });
  await writeFile(source, content);
  const sha256 = createHash('sha256').update(content).digest('hex');
  const http = createHttp({ log: memoryLogger() });
  const url = pathToFileURL(source).href;

  assert.equal(await http.getText(url), content);
  assert.deepEqual(await http.getJson(source), { '4081.2.0': { channel: 'stable' } });
  assert.equal(await http.exists(url), true);
  assert.equal(await http.exists(`${url}.missing`), false);
  assert.equal(await http.exists(join(dir.path, 'mirror')), false, 'a directory is not a file');

  const progress: number[] = [];
  const dest = join(dir.path, 'cache', 'a', 'releases.json');
  const result = await http.download(url, dest, { sha256, onProgress: (p) => progress.push(p.received) });
  assert.deepEqual(result, { path: dest, bytes: content.length, downloaded: true });
  assert.equal(await readFile(dest, 'utf8'), content);
  assert.deepEqual(progress, [content.length]);
  await assert.rejects(stat(`${dest}.partial`));
  assert.equal((await http.download(source, dest)).downloaded, false);

  const copy = join(dir.path, 'cache', 'b');
  await assert.rejects(http.download(source, copy, { sha256: '0'.repeat(64) }), { name: 'BakeError', kind: 'verify' });
  await assert.rejects(stat(copy));
  await assert.rejects(stat(`${copy}.partial`));
});

test('a missing local source fails like a 404', async () => {
  await using dir = await tempDir('bake-http-local');
  const http = createHttp({ log: memoryLogger() });
  const missing = join(dir.path, 'nope.txt');
  await assert.rejects(http.getText(missing), { kind: 'network', message: `not found: ${missing}` });
  await assert.rejects(http.download(pathToFileURL(missing).href, join(dir.path, 'out')), {
    kind: 'network',
    message: /^not found: file:/,
  });
  await assert.rejects(stat(join(dir.path, 'out.partial')), 'no empty partial file is left behind');
});
