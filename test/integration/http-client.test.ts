/**
 * The HTTP client against the real mirror server on 127.0.0.1: downloads, caching, resume, retries,
 * error messages, checksum verification, abort, redirects. Fixtures are random bytes written at test time.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { BakeError } from '../../bake/core/errors.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { createHttp, type HttpOptions } from '../../bake/net/http.ts';
import { entityTag } from '../../bake/net/serve-file.ts';
import { mirrorForFile } from '../support/mirror-per-file.ts';

const execFileAsync = promisify(execFile);
const SIZE = 1024 * 1024 + 123;
let payload: Buffer;
let payloadSha: string;
let cacheCount = 0;

const served = mirrorForFile('bake-http-test', async (root) => {
  await mkdir(join(root, 'release'), { recursive: true });
  payload = randomBytes(SIZE);
  payloadSha = createHash('sha256').update(payload).digest('hex');
  await writeFile(join(root, 'release', 'image.bin'), payload);
  await writeFile(join(root, 'release', 'version.txt'), 'FLATCAR_VERSION=4081.2.0\n');
  await writeFile(join(root, 'release', 'info.json'), JSON.stringify({ version: '4081.2.0', arch: 'amd64' }));
});

function client(overrides: Partial<HttpOptions> = {}) {
  const log = memoryLogger();
  const http = createHttp({ log, retries: 3, retryDelayMs: 1, maxRetryDelayMs: 5, ...overrides });
  return { http, log };
}

/** A fresh destination path in an empty cache directory that does not exist yet (download must create it). */
function freshDest(name = 'image.bin'): string {
  cacheCount += 1;
  return join(served.work.path, `cache-${cacheCount}`, 'nested', name);
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );
const imageUrl = () => `${served.mirror.url}/release/image.bin`;
/** GETs of the image (a delayed request from an earlier test may still land in the log). */
const gets = () => served.mirror.requests.filter((r) => r.method === 'GET' && r.path === '/release/image.bin');

async function rejectsWith(promise: Promise<unknown>, kind: string, pattern: RegExp): Promise<BakeError> {
  const error = await promise.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof BakeError, `expected a BakeError, got ${String(error)}`);
  assert.equal(error.kind, kind, error.message);
  assert.match(error.message, pattern);
  return error;
}

test('downloads a file, reports progress, leaves no partial file, and logs the request', async () => {
  const { http, log } = client();
  const dest = freshDest();
  const progress: Array<{ received: number; total?: number }> = [];
  const result = await http.download(imageUrl(), dest, { sha256: payloadSha, onProgress: (p) => progress.push(p) });
  assert.deepEqual(result, { path: dest, bytes: SIZE, downloaded: true });
  assert.ok((await readFile(dest)).equals(payload));
  assert.equal(await exists(`${dest}.partial`), false);
  assert.deepEqual(progress.at(-1), { url: imageUrl(), received: SIZE, total: SIZE, resumedFrom: 0 });
  assert.ok(progress.length > 1, 'progress is reported while streaming');
  assert.ok(
    log.lines.some((line) => line.includes(`GET ${imageUrl()} → 200`)),
    log.lines.join('\n'),
  );
});

test('a second download of an existing destination makes no request', async () => {
  const { http } = client();
  const dest = freshDest();
  await http.download(imageUrl(), dest);
  const before = served.mirror.requests.length;
  const again = await http.download(imageUrl(), dest);
  assert.deepEqual(again, { path: dest, bytes: SIZE, downloaded: false });
  assert.equal(served.mirror.requests.length, before);
});

test('a connection dropped mid-body resumes with Range and yields identical bytes', async () => {
  const { http } = client();
  const dest = freshDest();
  served.mirror.fault(/image\.bin$/, { dropAfterBytes: 300_000 });
  const result = await http.download(imageUrl(), dest, { sha256: payloadSha });
  assert.equal(result.bytes, SIZE);
  assert.ok((await readFile(dest)).equals(payload));
  // Where it resumes depends on how much undici had handed on when the socket broke: at most 300000.
  const [first, resumed, ...rest] = gets();
  assert.deepEqual([first?.status, first?.range, resumed?.status, rest.length], [200, undefined, 206, 0]);
  const from = Number(/^bytes=(\d+)-$/.exec(resumed?.range ?? '')?.[1]);
  assert.ok(from > 0 && from <= 300_000, `resumed from ${resumed?.range}`);
});

/** Leaves `bytes` as an earlier run's partial download of the image, with the validator it would have stored. */
async function leavePartial(dest: string, bytes: Buffer, validator?: string): Promise<void> {
  await mkdir(join(dest, '..'), { recursive: true });
  await writeFile(`${dest}.partial`, bytes);
  const current = entityTag(await stat(join(served.mirror.root, 'release', 'image.bin')));
  await writeFile(`${dest}.partial.validator`, validator ?? current);
}

test('a partial file left by an earlier run is hashed and resumed, for the version it holds only', async () => {
  const { http } = client();
  const dest = freshDest();
  await leavePartial(dest, payload.subarray(0, 500_000));
  await http.download(imageUrl(), dest, { sha256: payloadSha });
  assert.ok((await readFile(dest)).equals(payload));
  assert.deepEqual(
    gets().map((r) => r.range),
    ['bytes=500000-'],
  );
  assert.equal(await exists(`${dest}.partial.validator`), false, 'the validator goes with the partial file');
});

test('a partial file without a validator is not resumed: it might be of another version', async () => {
  const { http } = client();
  const dest = freshDest();
  await leavePartial(dest, payload.subarray(0, 500_000));
  await rm(`${dest}.partial.validator`);
  await http.download(imageUrl(), dest, { sha256: payloadSha });
  assert.ok((await readFile(dest)).equals(payload));
  assert.deepEqual(
    gets().map((r) => [r.status, r.range]),
    [[200, undefined]],
  );
});

test('a partial file longer than the remote one (416) starts over', async () => {
  const { http } = client();
  const dest = freshDest();
  await leavePartial(dest, Buffer.concat([payload, Buffer.from('stale tail')]));
  await http.download(imageUrl(), dest, { sha256: payloadSha });
  assert.ok((await readFile(dest)).equals(payload));
  assert.deepEqual(
    gets().map((r) => r.status),
    [416, 200],
  );
});

test('two 500s are retried, then the download succeeds', async () => {
  const { http, log } = client();
  served.mirror.fault(/image\.bin$/, { status: 500, times: 2 });
  await http.download(imageUrl(), freshDest(), { sha256: payloadSha });
  assert.deepEqual(
    gets().map((r) => r.status),
    [500, 500, 200],
  );
  assert.ok(
    log.lines.some((line) => /retry 1 of 3/.test(line)),
    log.lines.join('\n'),
  );
});

test('a 500 that never ends is a network error naming URL, status and attempts', async () => {
  const { http } = client();
  const dest = freshDest();
  served.mirror.fault(/image\.bin$/, { status: 503, times: 100 });
  const error = await rejectsWith(
    http.download(imageUrl(), dest),
    'network',
    /^503 Service Unavailable from http:\/\/127\.0\.0\.1:\d+\/release\/image\.bin after 4 attempts$/,
  );
  assert.ok(error.hint);
  assert.equal(gets().length, 4);
  assert.equal(await exists(dest), false);
});

test('429 is retried; other 4xx fail at once', async () => {
  const { http } = client();
  served.mirror.fault(/version\.txt$/, { status: 429, times: 1 });
  assert.equal(await http.getText(`${served.mirror.url}/release/version.txt`), 'FLATCAR_VERSION=4081.2.0\n');
  served.mirror.requests.length = 0;
  served.mirror.fault(/version\.txt$/, { status: 403, times: 100 });
  await rejectsWith(
    http.getText(`${served.mirror.url}/release/version.txt`),
    'network',
    /^403 Forbidden from .* after 1 attempt$/,
  );
  assert.equal(served.mirror.requests.length, 1);
});

test('404 is "not found" with a hint, without retries', async () => {
  const { http } = client();
  const url = `${served.mirror.url}/release/missing.bin`;
  const dest = freshDest();
  const error = await rejectsWith(http.download(url, dest), 'network', new RegExp(`^not found: ${url}$`));
  assert.equal(await exists(`${dest}.partial`), false, 'no empty partial file is left behind');
  assert.match(error.hint ?? '', /release|arch|base URL/);
  assert.equal(served.mirror.requests.length, 1);
});

test('a wrong sha256 is a verify error naming the file and both digests; nothing is left behind', async () => {
  const { http } = client();
  const dest = freshDest();
  const wrong = 'a'.repeat(64);
  const error = await rejectsWith(http.download(imageUrl(), dest, { sha256: wrong }), 'verify', /mismatch/);
  assert.ok(
    error.message.includes(dest) && error.message.includes(wrong) && error.message.includes(payloadSha),
    error.message,
  );
  assert.equal(await exists(dest), false);
  assert.equal(await exists(`${dest}.partial`), false);
});

test('a corrupted body is caught by sha256, and the next attempt downloads afresh', async () => {
  const { http } = client();
  const dest = freshDest();
  served.mirror.fault(/image\.bin$/, { corrupt: true });
  await rejectsWith(http.download(imageUrl(), dest, { sha256: payloadSha }), 'verify', /SHA-256 mismatch/);
  assert.equal(await exists(dest), false);
  await http.download(imageUrl(), dest, { sha256: payloadSha });
  assert.ok((await readFile(dest)).equals(payload));
});

test('abort mid-download is an interrupted error; the partial file is kept for next time', async () => {
  const controller = new AbortController();
  const { http } = client({ signal: controller.signal });
  const dest = freshDest();
  served.mirror.fault(/image\.bin$/, { throttleBytesPerSecond: 2 * 1024 * 1024 });
  const download = http.download(imageUrl(), dest, {
    onProgress: (p) => {
      if (p.received > 200_000) controller.abort();
    },
  });
  await rejectsWith(download, 'interrupted', /interrupted/);
  assert.equal(await exists(dest), false);
  const kept = await stat(`${dest}.partial`);
  assert.ok(kept.size > 200_000 && kept.size < SIZE, `partial size ${kept.size}`);

  served.mirror.clearFaults();
  const resumed = createHttp({ log: memoryLogger() });
  const resumedFrom = new Set<number>();
  await resumed.download(imageUrl(), dest, { sha256: payloadSha, onProgress: (p) => resumedFrom.add(p.resumedFrom) });
  assert.ok((await readFile(dest)).equals(payload));
  assert.equal(gets().at(-1)?.range, `bytes=${kept.size}-`);
  assert.deepEqual(
    [...resumedFrom],
    [kept.size],
    'progress says where the download resumed, so its speed counts only new bytes',
  );
});

test('abort with a BakeError reason rethrows that reason', async () => {
  const reason = new BakeError('interrupted', 'interrupted by SIGTERM');
  const { http } = client({ signal: AbortSignal.abort(reason) });
  const error = await http.getText(`${served.mirror.url}/release/version.txt`).catch((e: unknown) => e);
  assert.equal(error, reason);
});

test('getText, getJson and exists', async () => {
  const { http, log } = client();
  assert.deepEqual(await http.getJson(`${served.mirror.url}/release/info.json`), {
    version: '4081.2.0',
    arch: 'amd64',
  });
  assert.equal(await http.exists(imageUrl()), true);
  assert.equal(await http.exists(`${served.mirror.url}/release/nope.bin`), false);
  assert.ok(log.lines.some((line) => line.includes(`HEAD ${imageUrl()} → 200`)));
  await rejectsWith(http.getJson(`${served.mirror.url}/release/version.txt`), 'network', /invalid JSON from/);
  served.mirror.fault(/image\.bin$/, { status: 502, times: 100 });
  await rejectsWith(http.exists(imageUrl()), 'network', /^502 Bad Gateway from .* after 4 attempts$/);
});

test('redirects are followed; a redirect loop is an error', async () => {
  const { http } = client();
  served.mirror.redirect(/^\/old\//, (path) => path.replace('/old/', '/release/'));
  const dest = freshDest();
  await http.download(`${served.mirror.url}/old/image.bin`, dest, { sha256: payloadSha });
  assert.ok((await readFile(dest)).equals(payload));
  served.mirror.redirect(/^\/loop/, (path) => `${path}x`);
  await rejectsWith(http.getText(`${served.mirror.url}/loop`), 'network', /too many redirects/);
  assert.equal(served.mirror.requests.filter((r) => r.path.startsWith('/loop')).length, 6);
});

test('a slow server trips the headers timeout and is retried', async () => {
  // Margins wide enough for a loaded CI host: the retry has 600 ms to answer a local request.
  const { http, log } = client({ headersTimeoutMs: 600 });
  // info.json only, once: the delayed first request still lands in the mirror's log three seconds later.
  served.mirror.fault(/info\.json$/, { delayMs: 3000 });
  assert.deepEqual(await http.getJson(`${served.mirror.url}/release/info.json`), {
    version: '4081.2.0',
    arch: 'amd64',
  });
  assert.ok(
    log.lines.some((line) => /timeout.*retry 1 of 3/i.test(line)),
    log.lines.join('\n'),
  );
});

test('a body that stalls trips the idle timeout; the final error says so', async () => {
  // undici checks body timeouts on a coarse (~1 s) clock, so this takes about a second per attempt.
  const { http } = client({ bodyTimeoutMs: 200, retries: 0 });
  served.mirror.fault(/version\.txt$/, { throttleBytesPerSecond: 1 });
  await rejectsWith(
    http.getText(`${served.mirror.url}/release/version.txt`),
    'network',
    /^timed out talking to 127\.0\.0\.1:\d+ \(.*version\.txt\) after 1 attempt$/,
  );
});

test('a full disk is a space error, not a network error, and keeps the partial file', async () => {
  const small = join(served.work.path, 'small-disk');
  await mkdir(small);
  await execFileAsync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', small]);
  try {
    const { http } = client();
    const dest = join(small, 'image.bin');
    await rejectsWith(
      http.download(imageUrl(), dest),
      'space',
      /^no space left on the device holding .*image\.bin\.partial$/,
    );
    assert.equal(gets().length, 1, 'not retried');
    assert.ok((await stat(`${dest}.partial`)).size > 0);
  } finally {
    await execFileAsync('umount', [small]);
  }
});

test('connection refused names the host after the retries', async () => {
  const port = await new Promise<number>((done) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => done(port));
    });
  });
  const { http } = client({ retries: 1 });
  await rejectsWith(
    http.getText(`http://127.0.0.1:${port}/x`),
    'network',
    new RegExp(`^connection refused by 127\\.0\\.0\\.1:${port} .* after 2 attempts$`),
  );
});

test('concurrent downloads to one destination share one transfer', async () => {
  const { http } = client();
  const dest = freshDest();
  const [a, b] = await Promise.all([http.download(imageUrl(), dest), http.download(imageUrl(), dest)]);
  assert.deepEqual(a, b);
  assert.equal(gets().length, 1);
});

test('per-URL headers are sent', async () => {
  const seen: string[] = [];
  const { http } = client({
    headers: (url) => {
      seen.push(url);
      return { authorization: 'token x' };
    },
  });
  await http.getText(`${served.mirror.url}/release/version.txt`);
  assert.deepEqual(seen, [`${served.mirror.url}/release/version.txt`]);
});

test('a multi-megabyte download is written to disk as it streams, not buffered', async () => {
  const big = 32 * 1024 * 1024;
  await writeFile(join(served.mirror.root, 'big.bin'), Buffer.alloc(big, 7));
  const { http } = client();
  const dest = freshDest('big.bin');
  const mismatches: string[] = [];
  let checks = 0;
  await http.download(`${served.mirror.url}/big.bin`, dest, {
    onProgress: (p) => {
      if (p.received >= big || checks++ % 50 !== 0) return;
      // Every byte reported received is already in the partial file: nothing waits in memory.
      const onDisk = statSync(`${dest}.partial`).size;
      if (onDisk !== p.received) mismatches.push(`${onDisk} on disk at ${p.received} received`);
    },
  });
  assert.ok(checks > 100, `only ${checks} progress reports`);
  assert.deepEqual(mismatches, []);
  assert.equal((await stat(dest)).size, big);
});
