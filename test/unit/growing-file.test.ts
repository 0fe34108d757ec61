import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { appendFile, mkdtemp, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type FileFollower, GrowingFileReader, WriterRestartedError } from '../../bake/image/growing-file.ts';

async function collect(reader: GrowingFileReader | FileFollower): Promise<Buffer> {
  const follower = reader instanceof GrowingFileReader ? reader.follow() : reader;
  const chunks: Buffer[] = [];
  for await (const chunk of follower.readable) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

test('reads a file while it grows, through the rename that completes it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bake-growing-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const partial = join(dir, 'x.bz2.partial');
  const final = join(dir, 'x.bz2');
  const reader = new GrowingFileReader(partial, final);
  const reading = collect(reader);
  const parts = [randomBytes(300_000), randomBytes(2_000_000), randomBytes(5)];
  await writeFile(partial, parts[0]!);
  for (const part of parts.slice(1)) {
    await new Promise((done) => setTimeout(done, 30));
    await appendFile(partial, part);
    reader.notify();
  }
  await rename(partial, final);
  reader.finish();
  assert.ok((await reading).equals(Buffer.concat(parts)));
});

test('a file that appears only complete (already renamed) is read whole', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bake-growing-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = randomBytes(100_000);
  await writeFile(join(dir, 'x.bz2'), data);
  const reader = new GrowingFileReader(join(dir, 'x.bz2.partial'), join(dir, 'x.bz2'));
  reader.finish();
  assert.ok((await collect(reader)).equals(data));
});

test('a writer that starts over makes the stream fail, so the caller falls back', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bake-growing-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const partial = join(dir, 'x.bz2.partial');
  await writeFile(partial, randomBytes(200_000));
  const reader = new GrowingFileReader(partial, join(dir, 'x.bz2'));
  const reading = collect(reader);
  await new Promise((done) => setTimeout(done, 50));
  await truncate(partial, 0);
  reader.notify();
  await assert.rejects(reading, WriterRestartedError);
});

test('fail() ends the stream with the given error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bake-growing-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const reader = new GrowingFileReader(join(dir, 'never.partial'), join(dir, 'never'));
  const reading = collect(reader);
  reader.fail(new Error('download failed'));
  await assert.rejects(reading, /download failed/);
});

test('every follower reads the whole file at its own pace and counts what it read', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bake-growing-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const partial = join(dir, 'x.bz2.partial');
  const reader = new GrowingFileReader(partial, join(dir, 'x.bz2'));
  const [fast, slow] = [reader.follow(), reader.follow()];
  const fastRead = collect(fast);
  const data = randomBytes(3_000_000);
  await writeFile(partial, data.subarray(0, 1_000_000));
  reader.notify();
  await appendFile(partial, data.subarray(1_000_000));
  reader.finish();
  assert.ok((await fastRead).equals(data));
  assert.ok((await collect(slow)).equals(data), 'a follower that starts late still reads from the first byte');
  assert.equal(fast.bytesRead(), data.length);
  assert.equal(slow.bytesRead(), data.length);
});

test('a download that completes while a follower first looks for the file is still read whole', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bake-growing-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const partial = join(dir, 'x.bz2.partial');
  const final = join(dir, 'x.bz2');
  const content = randomBytes(12_000);
  const reader = new GrowingFileReader(partial, final);
  const reading = collect(reader);
  // The follower is now looking for the partial file; the whole download (written, renamed, finished)
  // happens before that look returns, as it can for a small file on a fast mirror.
  writeFileSync(final, content);
  reader.finish();
  assert.deepEqual(await reading, content);
});
