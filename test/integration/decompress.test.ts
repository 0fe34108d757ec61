/**
 * bz2 → sparse image with each decoder in the fallback chain (lbzip2, pbzip2, bzip2, then the pure-JS
 * bzip2-maybe), chosen by what is on PATH, with and without perl widening the pipe: same bytes every
 * time, holes where the image has zeros.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { createContext } from '../../bake/context.ts';
import { sha256File } from '../../bake/core/checksums.ts';
import { findTool } from '../../bake/core/exec.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { decompressBz2 } from '../../bake/image/decompress.ts';
import { withTempDir, writeSparseFile } from '../support/fixtures.ts';

const MIB = 1024 * 1024;

/** A PATH holding only the named tools (plus what the FIFO route needs), to force a decoder choice. */
async function pathWith(dir: string, tools: string[]): Promise<string> {
  const bin = join(dir, `bin-${tools.join('-') || 'none'}`);
  await mkdir(bin);
  for (const tool of [...tools, 'cp', 'mkfifo']) await symlink((await findTool(tool))!, join(bin, tool));
  return bin;
}

test('every decoder in the chain gives the same sparse image', async (t) => {
  const dir = await withTempDir(t, 'bake-decompress');
  const image = join(dir, 'disk.bin');
  await writeSparseFile(image, 64, [
    [0, 2],
    [40, 1],
  ]);
  const expected = await sha256File(image);
  await execa('lbzip2', ['-k', '-n', '2', image]); // multi-stream, like Flatcar's published images
  const savedPath = process.env.PATH;
  t.after(() => {
    process.env.PATH = savedPath;
  });
  const routes = [
    ['lbzip2', ['lbzip2', 'perl']],
    ['lbzip2', ['lbzip2']],
    ['pbzip2', ['pbzip2']],
    ['bzip2', ['bzip2']],
    ['bzip2-maybe', []],
  ] as const;
  for (const [decoder, tools] of routes) {
    process.env.PATH = await pathWith(dir, [...tools]);
    const log = memoryLogger();
    const out = join(dir, `out-${tools.join('-') || decoder}.bin`);
    assert.equal(await decompressBz2(createContext({ log }), `${image}.bz2`, out), decoder);
    process.env.PATH = savedPath;
    assert.equal(await sha256File(out), expected, `${decoder} reproduces the image`);
    const info = await stat(out);
    assert.equal(info.size, 64 * MIB);
    assert.ok(info.blocks * 512 < 8 * MIB, `${decoder} wrote holes (${info.blocks * 512} bytes allocated)`);
    if (decoder === 'bzip2-maybe') assert.ok(log.lines.some((line) => /pure-JS fallback/.test(line)));
    const widened = log.lines.some((line) => line.startsWith(`+ perl -e 'fcntl(STDOUT, 1031, 1 << 20)`));
    assert.equal(
      widened,
      tools.some((tool) => tool === 'perl'),
      'perl widens the pipe where it exists, and only there',
    );
  }
});

test('a truncated archive is an input error naming the file, with each decoder', async (t) => {
  const dir = await withTempDir(t, 'bake-decompress');
  const image = join(dir, 'disk.bin');
  await writeFile(image, randomBytes(3 * MIB));
  await execa('bzip2', ['-k', image]);
  await truncate(`${image}.bz2`, Math.floor((await stat(`${image}.bz2`)).size / 2));
  const savedPath = process.env.PATH;
  t.after(() => {
    process.env.PATH = savedPath;
  });
  for (const tools of [['lbzip2'], []]) {
    process.env.PATH = await pathWith(dir, tools);
    await assert.rejects(
      decompressBz2(createContext({ log: memoryLogger() }), `${image}.bz2`, join(dir, `out-${tools.length}`)),
      /disk\.bin\.bz2 is not a complete bz2 archive/,
    );
    process.env.PATH = savedPath;
  }
});

test('a sparse writer that ends before opening the FIFO fails the decompression instead of hanging it', {
  timeout: 30_000,
}, async (t) => {
  const dir = await withTempDir(t, 'bake-decompress');
  const image = join(dir, 'disk.bin');
  await writeFile(image, randomBytes(MIB));
  await execa('lbzip2', ['-k', image]);
  const bin = await pathWith(dir, ['lbzip2']);
  // Fault injection: a cp that exits before it opens its input, as one killed by Ctrl-C right after it started.
  await rm(join(bin, 'cp'));
  await writeFile(join(bin, 'cp'), '#!/bin/sh\necho "cp: stand-in that fails before opening its input" >&2\nexit 1\n');
  await chmod(join(bin, 'cp'), 0o755);
  const savedPath = process.env.PATH;
  t.after(() => {
    process.env.PATH = savedPath;
  });
  process.env.PATH = bin;
  await assert.rejects(
    decompressBz2(createContext({ log: memoryLogger() }), `${image}.bz2`, join(dir, 'out.bin')),
    /cp failed \(exit 1\): cp: stand-in/,
  );
});
