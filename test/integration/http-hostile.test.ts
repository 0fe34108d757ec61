/**
 * The HTTP client against hostile servers on 127.0.0.1: endless and trickling bodies, a file republished
 * between two runs, links planted at the partial file. Each must end in a clean, bounded failure (or a
 * correct file), never in unbounded memory, disk or time, a spliced file, or a write through a link.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { BakeError } from '../../bake/core/errors.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { createHttp, type HttpOptions } from '../../bake/net/http.ts';
import { LIMITS } from '../../bake/net/limits.ts';
import { entityTag } from '../../bake/net/serve-file.ts';
import { mirrorForFile } from '../support/mirror-per-file.ts';

const execFileAsync = promisify(execFile);
/** Guards against the old behaviour (reading for ever) hanging the suite; no test waits near it. */
const NEVER = { timeout: 60_000 };
const SIZE = 1024 * 1024 + 77;
let cacheCount = 0;

const served = mirrorForFile('bake-http-hostile');

const client = (overrides: Partial<HttpOptions> = {}) =>
  createHttp({ log: memoryLogger(), retries: 2, retryDelayMs: 1, maxRetryDelayMs: 5, ...overrides });
const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function freshDest(name: string): Promise<string> {
  cacheCount += 1;
  const dir = join(served.work.path, `cache-${cacheCount}`);
  await mkdir(dir, { recursive: true });
  return join(dir, name);
}

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

test('an endless text body stops at the text limit with a network error naming URL and limit', NEVER, async () => {
  const url = `${served.mirror.url}/releases.json`;
  served.mirror.fault(/releases\.json$/, { endless: true, times: 10 });
  await rejectsWith(client().getText(url), 'network', new RegExp(`^${url} is larger than the 8 MiB`));
  await rejectsWith(client().getJson(url, { maxBytes: 1024 }), 'network', /is larger than the 1 KiB/);
  assert.equal(served.mirror.requests.length, 2, 'a body too large is not retried');
});

test('an endless small download (a signature) stops at kilobytes and leaves no partial file', NEVER, async () => {
  served.mirror.fault(/\.sig$/, { endless: true, times: 10 });
  const dest = await freshDest('version.txt.sig');
  await rejectsWith(
    client().download(`${served.mirror.url}/version.txt.sig`, dest, { maxBytes: LIMITS.smallFile }),
    'network',
    /is larger than the 64 KiB/,
  );
  assert.equal(await exists(`${dest}.partial`), false);
  assert.equal(await exists(`${dest}.partial.validator`), false);
});

test('an endless large download stops at the download cap and its partial file is removed', NEVER, async () => {
  served.mirror.fault(/image\.bin$/, { endless: true, times: 10 });
  const dest = await freshDest('image.bin');
  await rejectsWith(
    client({ maxDownloadBytes: 4 << 20 }).download(`${served.mirror.url}/image.bin`, dest),
    'network',
    /is larger than the 4 MiB/,
  );
  assert.equal(await exists(`${dest}.partial`), false);
});

test('a local file larger than the limit is refused too', async () => {
  await writeFile(join(served.mirror.root, 'big.txt'), Buffer.alloc(4096, 'x'));
  await rejectsWith(
    client().getText(join(served.mirror.root, 'big.txt'), { maxBytes: 1024 }),
    'network',
    /is larger than the 1 KiB/,
  );
});

test('a body trickling a byte at a time ends at the total deadline, though it is never idle', NEVER, async () => {
  served.mirror.fault(/version\.txt$/, { trickleMs: 50, times: 10 });
  const http = client({ deadlineMs: 600, bodyTimeoutMs: 30_000 });
  await rejectsWith(
    http.getText(`${served.mirror.url}/version.txt`),
    'network',
    /version\.txt took longer than its deadline \(600 ms/,
  );
  served.mirror.fault(/version\.txt\.sig$/, { trickleMs: 50, times: 10 });
  const dest = await freshDest('version.txt.sig');
  await rejectsWith(
    http.download(`${served.mirror.url}/version.txt.sig`, dest, { maxBytes: LIMITS.smallFile }),
    'network',
    /took longer than its deadline/,
  );
  assert.equal(await exists(`${dest}.partial`), false, 'a small download leaves no partial file');
});

test('a download resumed after the file was republished upstream starts over instead of splicing', async () => {
  const path = join(served.mirror.root, 'republished.bin');
  const [first, second] = [randomBytes(SIZE), randomBytes(SIZE)];
  await writeFile(path, first);
  const url = `${served.mirror.url}/republished.bin`;
  const dest = await freshDest('republished.bin');
  const controller = new AbortController();
  served.mirror.fault(/republished\.bin$/, { throttleBytesPerSecond: 2 << 20 });
  const interrupted = client({ signal: controller.signal }).download(url, dest, {
    onProgress: (p) => {
      if (p.received > 200_000) controller.abort();
    },
  });
  await rejectsWith(interrupted, 'interrupted', /interrupted/);
  assert.ok((await stat(`${dest}.partial`)).size > 200_000, 'the partial file is kept for a resume');
  served.mirror.clearFaults();

  await writeFile(path, second);
  const result = await client().download(url, dest, { sha256: sha256(second) });
  assert.equal(result.bytes, SIZE);
  assert.ok((await readFile(dest)).equals(second));
  const last = served.mirror.requests.at(-1)!;
  assert.match(last.range ?? '', /^bytes=\d+-$/, 'it asked to resume');
  assert.equal(last.status, 200, 'the server, seeing another version, sent the whole new file');
});

test('a server that ignores If-Range and sends a range of another version is caught by its ETag', async () => {
  const path = join(served.mirror.root, 'changing.bin');
  const [first, second] = [randomBytes(SIZE), randomBytes(SIZE)];
  await writeFile(path, first);
  const dest = await freshDest('changing.bin');
  await writeFile(`${dest}.partial`, first.subarray(0, 500_000));
  await writeFile(`${dest}.partial.validator`, entityTag(await stat(path)));
  await writeFile(path, second);
  served.mirror.fault(/changing\.bin$/, { ignoreIfRange: true });
  await client().download(`${served.mirror.url}/changing.bin`, dest, { sha256: sha256(second) });
  assert.ok((await readFile(dest)).equals(second));
  assert.deepEqual(
    served.mirror.requests.map((r) => [r.status, r.range]),
    [
      [206, 'bytes=500000-'],
      [200, undefined],
    ],
  );
});

test('a symlink or hard link planted at the partial file is replaced, never written through', async () => {
  const data = randomBytes(SIZE);
  await writeFile(join(served.mirror.root, 'linked.bin'), data);
  const precious = join(served.work.path, 'precious');
  for (const plant of [symlink, link]) {
    await writeFile(precious, 'do not touch');
    const dest = await freshDest('linked.bin');
    await plant(precious, `${dest}.partial`);
    await plant(precious, `${dest}.partial.validator`).catch(() => undefined);
    await client().download(`${served.mirror.url}/linked.bin`, dest, { sha256: sha256(data) });
    assert.equal(await readFile(precious, 'utf8'), 'do not touch', plant.name);
    assert.ok((await readFile(dest)).equals(data), plant.name);
  }
});

test('a FIFO planted at the validator does not hold the download up', NEVER, async () => {
  const data = randomBytes(SIZE);
  await writeFile(join(served.mirror.root, 'fifo.bin'), data);
  const dest = await freshDest('fifo.bin');
  await writeFile(`${dest}.partial`, data.subarray(0, 1000));
  await execFileAsync('mkfifo', [`${dest}.partial.validator`]);
  await client().download(`${served.mirror.url}/fifo.bin`, dest, { sha256: sha256(data) });
  assert.ok((await readFile(dest)).equals(data));
});

test('a symlink planted at the destination is not taken for a cached file', async () => {
  const data = randomBytes(4096);
  await writeFile(join(served.mirror.root, 'small.bin'), data);
  const precious = join(served.work.path, 'precious-dest');
  await writeFile(precious, 'do not touch');
  const dest = await freshDest('small.bin');
  await symlink(precious, dest);
  const result = await client().download(`${served.mirror.url}/small.bin`, dest);
  assert.equal(result.downloaded, true);
  assert.ok((await readFile(dest)).equals(data));
  assert.equal(await readFile(precious, 'utf8'), 'do not touch');
});
