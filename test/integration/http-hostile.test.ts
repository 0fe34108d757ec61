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
import { after, before, beforeEach, test } from 'node:test';
import { promisify } from 'node:util';
import { type TempDir, tempDir } from '../../bake/core/cleanup.ts';
import { BakeError } from '../../bake/core/errors.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { createHttp, type HttpOptions } from '../../bake/net/http.ts';
import { LIMITS } from '../../bake/net/limits.ts';
import { entityTag } from '../../bake/net/serve-file.ts';
import { type Mirror, startMirror } from '../support/mirror.ts';

const execFileAsync = promisify(execFile);
/** Guards against the old behaviour (reading for ever) hanging the suite; no test waits near it. */
const NEVER = { timeout: 60_000 };
const SIZE = 1024 * 1024 + 77;
let work: TempDir;
let mirror: Mirror;
let cacheCount = 0;

before(async () => {
  work = await tempDir('bake-http-hostile');
  await mkdir(join(work.path, 'root'));
  mirror = await startMirror({ root: join(work.path, 'root') });
});

after(async () => {
  await mirror?.close();
  await work?.[Symbol.asyncDispose]();
});

beforeEach(() => {
  mirror.clearFaults();
  mirror.requests.length = 0;
});

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
  const dir = join(work.path, `cache-${cacheCount}`);
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
  const url = `${mirror.url}/releases.json`;
  mirror.fault(/releases\.json$/, { endless: true, times: 10 });
  await rejectsWith(client().getText(url), 'network', new RegExp(`^${url} is larger than the 8 MiB`));
  await rejectsWith(client().getJson(url, { maxBytes: 1024 }), 'network', /is larger than the 1 KiB/);
  assert.equal(mirror.requests.length, 2, 'a body too large is not retried');
});

test('an endless small download (a signature) stops at kilobytes and leaves no partial file', NEVER, async () => {
  mirror.fault(/\.sig$/, { endless: true, times: 10 });
  const dest = await freshDest('version.txt.sig');
  await rejectsWith(
    client().download(`${mirror.url}/version.txt.sig`, dest, { maxBytes: LIMITS.smallFile }),
    'network',
    /is larger than the 64 KiB/,
  );
  assert.equal(await exists(`${dest}.partial`), false);
  assert.equal(await exists(`${dest}.partial.validator`), false);
});

test('an endless large download stops at the download cap and its partial file is removed', NEVER, async () => {
  mirror.fault(/image\.bin$/, { endless: true, times: 10 });
  const dest = await freshDest('image.bin');
  await rejectsWith(
    client({ maxDownloadBytes: 4 << 20 }).download(`${mirror.url}/image.bin`, dest),
    'network',
    /is larger than the 4 MiB/,
  );
  assert.equal(await exists(`${dest}.partial`), false);
});

test('a local file larger than the limit is refused too', async () => {
  await writeFile(join(mirror.root, 'big.txt'), Buffer.alloc(4096, 'x'));
  await rejectsWith(
    client().getText(join(mirror.root, 'big.txt'), { maxBytes: 1024 }),
    'network',
    /is larger than the 1 KiB/,
  );
});

test('a body trickling a byte at a time ends at the total deadline, though it is never idle', NEVER, async () => {
  mirror.fault(/version\.txt$/, { trickleMs: 50, times: 10 });
  const http = client({ deadlineMs: 600, bodyTimeoutMs: 30_000 });
  await rejectsWith(
    http.getText(`${mirror.url}/version.txt`),
    'network',
    /version\.txt took longer than its deadline \(600 ms/,
  );
  mirror.fault(/version\.txt\.sig$/, { trickleMs: 50, times: 10 });
  const dest = await freshDest('version.txt.sig');
  await rejectsWith(
    http.download(`${mirror.url}/version.txt.sig`, dest, { maxBytes: LIMITS.smallFile }),
    'network',
    /took longer than its deadline/,
  );
  assert.equal(await exists(`${dest}.partial`), false, 'a small download leaves no partial file');
});

test('a download resumed after the file was republished upstream starts over instead of splicing', async () => {
  const path = join(mirror.root, 'republished.bin');
  const [first, second] = [randomBytes(SIZE), randomBytes(SIZE)];
  await writeFile(path, first);
  const url = `${mirror.url}/republished.bin`;
  const dest = await freshDest('republished.bin');
  const controller = new AbortController();
  mirror.fault(/republished\.bin$/, { throttleBytesPerSecond: 2 << 20 });
  const interrupted = client({ signal: controller.signal }).download(url, dest, {
    onProgress: (p) => {
      if (p.received > 200_000) controller.abort();
    },
  });
  await rejectsWith(interrupted, 'interrupted', /interrupted/);
  assert.ok((await stat(`${dest}.partial`)).size > 200_000, 'the partial file is kept for a resume');
  mirror.clearFaults();

  await writeFile(path, second);
  const result = await client().download(url, dest, { sha256: sha256(second) });
  assert.equal(result.bytes, SIZE);
  assert.ok((await readFile(dest)).equals(second));
  const last = mirror.requests.at(-1)!;
  assert.match(last.range ?? '', /^bytes=\d+-$/, 'it asked to resume');
  assert.equal(last.status, 200, 'the server, seeing another version, sent the whole new file');
});

test('a server that ignores If-Range and sends a range of another version is caught by its ETag', async () => {
  const path = join(mirror.root, 'changing.bin');
  const [first, second] = [randomBytes(SIZE), randomBytes(SIZE)];
  await writeFile(path, first);
  const dest = await freshDest('changing.bin');
  await writeFile(`${dest}.partial`, first.subarray(0, 500_000));
  await writeFile(`${dest}.partial.validator`, entityTag(await stat(path)));
  await writeFile(path, second);
  mirror.fault(/changing\.bin$/, { ignoreIfRange: true });
  await client().download(`${mirror.url}/changing.bin`, dest, { sha256: sha256(second) });
  assert.ok((await readFile(dest)).equals(second));
  assert.deepEqual(
    mirror.requests.map((r) => [r.status, r.range]),
    [
      [206, 'bytes=500000-'],
      [200, undefined],
    ],
  );
});

test('a symlink or hard link planted at the partial file is replaced, never written through', async () => {
  const data = randomBytes(SIZE);
  await writeFile(join(mirror.root, 'linked.bin'), data);
  const precious = join(work.path, 'precious');
  for (const plant of [symlink, link]) {
    await writeFile(precious, 'do not touch');
    const dest = await freshDest('linked.bin');
    await plant(precious, `${dest}.partial`);
    await plant(precious, `${dest}.partial.validator`).catch(() => undefined);
    await client().download(`${mirror.url}/linked.bin`, dest, { sha256: sha256(data) });
    assert.equal(await readFile(precious, 'utf8'), 'do not touch', plant.name);
    assert.ok((await readFile(dest)).equals(data), plant.name);
  }
});

test('a FIFO planted at the validator does not hold the download up', NEVER, async () => {
  const data = randomBytes(SIZE);
  await writeFile(join(mirror.root, 'fifo.bin'), data);
  const dest = await freshDest('fifo.bin');
  await writeFile(`${dest}.partial`, data.subarray(0, 1000));
  await execFileAsync('mkfifo', [`${dest}.partial.validator`]);
  await client().download(`${mirror.url}/fifo.bin`, dest, { sha256: sha256(data) });
  assert.ok((await readFile(dest)).equals(data));
});

test('a symlink planted at the destination is not taken for a cached file', async () => {
  const data = randomBytes(4096);
  await writeFile(join(mirror.root, 'small.bin'), data);
  const precious = join(work.path, 'precious-dest');
  await writeFile(precious, 'do not touch');
  const dest = await freshDest('small.bin');
  await symlink(precious, dest);
  const result = await client().download(`${mirror.url}/small.bin`, dest);
  assert.equal(result.downloaded, true);
  assert.ok((await readFile(dest)).equals(data));
  assert.equal(await readFile(precious, 'utf8'), 'do not touch');
});
