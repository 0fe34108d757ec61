import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { SparseFileWriter } from '../../bake/image/sparse.ts';

test('the sparse writer reproduces the bytes and leaves zero blocks as holes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bake-sparse-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = randomBytes(300 * 1024);
  const zeros = Buffer.alloc(8 * 1024 * 1024);
  const tail = Buffer.from('end of image\n');
  const expected = Buffer.concat([data, zeros, data, zeros, tail, Buffer.alloc(5000)]);
  // Odd chunk sizes, so blocks straddle chunk boundaries.
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < expected.length; offset += 77_777)
    chunks.push(expected.subarray(offset, offset + 77_777));
  const path = join(dir, 'out.bin');
  await pipeline(Readable.from(chunks), new SparseFileWriter(path));
  assert.ok((await readFile(path)).equals(expected));
  const info = await stat(path);
  assert.equal(info.size, expected.length);
  assert.ok(info.blocks * 512 < 2 * 1024 * 1024, `allocated ${info.blocks * 512} bytes for 600 KiB of data`);
  await writeFile(join(dir, 'dense.bin'), expected);
  assert.ok((await stat(join(dir, 'dense.bin'))).blocks > info.blocks * 4, 'a plain write allocates far more');
});
