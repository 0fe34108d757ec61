/**
 * The test mirror itself, probed with raw node:http (not bake's client, so a bug in one cannot hide a
 * bug in the other): ranges, HEAD, content types, listings, path escapes, faults and their counts.
 */

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseRange } from '../../bake/net/serve-file.ts';
import { mirrorForFile } from '../support/mirror-per-file.ts';

const DATA = Buffer.from('0123456789abcdefghij');

const served = mirrorForFile('bake-mirror-test', async (root, work) => {
  await mkdir(join(root, 'dir', 'sub'), { recursive: true });
  await writeFile(join(root, 'dir', 'data.bin'), DATA);
  await writeFile(join(root, 'dir', 'a.json'), '{}');
  await writeFile(join(root, 'dir', 'b.conf'), 'x=1\n');
  await writeFile(join(work, 'secret.txt'), 'outside the root');
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** True when the connection broke before the body completed. */
  aborted: boolean;
}

/** A raw request; `path` is sent byte for byte (no URL normalisation), which path-escape tests need. */
function fetchRaw(path: string, options: { method?: string; range?: string; ifRange?: string } = {}): Promise<Reply> {
  const headers = {
    ...(options.range ? { range: options.range } : {}),
    ...(options.ifRange ? { 'if-range': options.ifRange } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: served.mirror.port, path, method: options.method ?? 'GET', agent: false, headers },
      (res) => {
        const chunks: Buffer[] = [];
        let aborted = false;
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('aborted', () => {
          aborted = true;
        });
        res.on('error', () => {
          aborted = true;
        });
        res.on('close', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            aborted: aborted || !res.complete,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('parseRange handles start-end, open ends, suffixes and unsatisfiable ranges', () => {
  assert.deepEqual(parseRange('bytes=2-5', 20), { start: 2, end: 5 });
  assert.deepEqual(parseRange('bytes=15-', 20), { start: 15, end: 19 });
  assert.deepEqual(parseRange('bytes=15-100', 20), { start: 15, end: 19 });
  assert.deepEqual(parseRange('bytes=-4', 20), { start: 16, end: 19 });
  assert.equal(parseRange('bytes=20-', 20), 'unsatisfiable');
  assert.equal(parseRange('bytes=5-2', 20), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-1,4-5', 20), undefined);
  assert.equal(parseRange(undefined, 20), undefined);
});

test('serves files with length and content type; HEAD has headers and no body', async () => {
  const get = await fetchRaw('/dir/data.bin');
  assert.equal(get.status, 200);
  assert.ok(get.body.equals(DATA));
  assert.equal(get.headers['content-length'], String(DATA.length));
  assert.equal(get.headers['content-type'], 'application/octet-stream');
  assert.equal((await fetchRaw('/dir/a.json')).headers['content-type'], 'application/json');
  assert.match(String((await fetchRaw('/dir/b.conf')).headers['content-type']), /^text\/plain/);
  const head = await fetchRaw('/dir/data.bin', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(DATA.length));
  assert.equal(head.body.length, 0);
  assert.deepEqual(
    served.mirror.requests.map((r) => `${r.method} ${r.path} ${r.status}`).at(-1),
    'HEAD /dir/data.bin 200',
  );
});

test('single ranges give 206 with Content-Range; out-of-range gives 416', async () => {
  const partial = await fetchRaw('/dir/data.bin', { range: 'bytes=5-' });
  assert.equal(partial.status, 206);
  assert.equal(partial.headers['content-range'], `bytes 5-19/${DATA.length}`);
  assert.ok(partial.body.equals(DATA.subarray(5)));
  const beyond = await fetchRaw('/dir/data.bin', { range: 'bytes=20-' });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers['content-range'], `bytes */${DATA.length}`);
  assert.deepEqual(
    served.mirror.requests.map((r) => r.range),
    ['bytes=5-', 'bytes=20-'],
  );
});

test('a range is honoured only for the version If-Range names, by ETag or Last-Modified', async () => {
  const { headers } = await fetchRaw('/dir/data.bin', { method: 'HEAD' });
  const [etag, lastModified] = [String(headers.etag), String(headers['last-modified'])];
  assert.match(etag, /^"[0-9a-f]+-[0-9a-f]+"$/, 'a strong ETag');
  assert.equal((await fetchRaw('/dir/data.bin', { range: 'bytes=5-', ifRange: etag })).status, 206);
  assert.equal((await fetchRaw('/dir/data.bin', { range: 'bytes=5-', ifRange: lastModified })).status, 206);
  const stale = await fetchRaw('/dir/data.bin', { range: 'bytes=5-', ifRange: '"another-version"' });
  assert.equal(stale.status, 200);
  assert.ok(stale.body.equals(DATA), 'the whole current file');
});

test('404 for missing files; paths that climb out of the root are refused', async () => {
  assert.equal((await fetchRaw('/dir/none.bin')).status, 404);
  for (const path of [
    '/../secret.txt',
    '/dir/../../secret.txt',
    '/..%2fsecret.txt',
    '/dir%2f..%2f..%2fsecret.txt',
    '/%00',
  ]) {
    const reply = await fetchRaw(path);
    assert.ok(reply.status === 403 || reply.status === 404, `${path} → ${reply.status}`);
    assert.ok(!reply.body.toString().includes('outside the root'), path);
  }
});

test('directories list their entries as links; without a slash they redirect', async () => {
  const index = await fetchRaw('/dir/');
  assert.equal(index.status, 200);
  const links = [...index.body.toString().matchAll(/<a href="([^"]+)">/g)].map((m) => m[1]);
  assert.deepEqual(links, ['a.json', 'b.conf', 'data.bin', 'sub/']);
  const bare = await fetchRaw('/dir');
  assert.equal(bare.status, 301);
  assert.equal(bare.headers.location, '/dir/');
});

test('a status fault applies `times` times, then clears', async () => {
  served.mirror.fault(/data\.bin$/, { status: 500, times: 2 });
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await fetchRaw('/dir/data.bin')).status);
  assert.deepEqual(statuses, [500, 500, 200]);
  served.mirror.fault(/data\.bin$/, { status: 503 });
  assert.equal((await fetchRaw('/dir/a.json')).status, 200, 'faults only hit matching paths');
  assert.equal((await fetchRaw('/dir/data.bin')).status, 503);
  assert.equal((await fetchRaw('/dir/data.bin')).status, 200, 'times defaults to 1');
});

test('dropAfterBytes sends headers and exactly N bytes, then cuts the connection', async () => {
  served.mirror.fault(/data\.bin$/, { dropAfterBytes: 7 });
  const dropped = await fetchRaw('/dir/data.bin');
  assert.equal(dropped.status, 200);
  assert.equal(dropped.aborted, true);
  assert.ok(dropped.body.equals(DATA.subarray(0, 7)), dropped.body.toString());
  const whole = await fetchRaw('/dir/data.bin');
  assert.equal(whole.aborted, false);
  assert.ok(whole.body.equals(DATA));
});

test('corrupt flips bytes but keeps the length', async () => {
  served.mirror.fault(/data\.bin$/, { corrupt: true });
  const corrupted = await fetchRaw('/dir/data.bin');
  assert.equal(corrupted.body.length, DATA.length);
  assert.ok(!corrupted.body.equals(DATA));
});

test('delay and throttle slow responses down; redirects point elsewhere', async () => {
  served.mirror.fault(/a\.json$/, { delayMs: 150 });
  let started = Date.now();
  await fetchRaw('/dir/a.json');
  assert.ok(Date.now() - started >= 140);
  served.mirror.fault(/data\.bin$/, { throttleBytesPerSecond: 50 });
  started = Date.now();
  assert.ok((await fetchRaw('/dir/data.bin')).body.equals(DATA));
  assert.ok(Date.now() - started >= 300, 'throttled 20 bytes at 50 B/s');
  served.mirror.clearFaults();
  served.mirror.redirect(/^\/moved\//, (path) => path.replace('/moved/', '/dir/'));
  const moved = await fetchRaw('/moved/data.bin');
  assert.equal(moved.status, 302);
  assert.equal(moved.headers.location, '/dir/data.bin');
});
