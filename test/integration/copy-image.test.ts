/**
 * copyImage: the copy bake modifies is sparse, identical, and already on disk when copyImage returns,
 * so attaching a loop device to it (which writes the whole backing file back first) does not wait.
 * "On disk" is read from the kernel's page cache state with cachestat(2) (Linux 6.5+).
 */

import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { createContext } from '../../bake/context.ts';
import { sha256File } from '../../bake/core/checksums.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { copyImage } from '../../bake/flatcar/base-image.ts';
import { withTempDir, writeSparseFile } from '../support/fixtures.ts';

const MIB = 1024 * 1024;

/** Pages of `path` in the page cache that are dirty (not yet written back), or undefined without cachestat. */
async function dirtyPages(path: string): Promise<number | undefined> {
  // perl is part of every Debian system and can make a raw syscall: 451 is cachestat on x86-64.
  const script =
    'open(my $f, "<", $ARGV[0]) or die "$!\\n"; my ($r, $s) = (pack("QQ", 0, 0), "\\0" x 40); ' +
    'syscall(451, fileno($f), $r, $s, 0) == 0 or die "cachestat: $!\\n"; print((unpack("Q5", $s))[1])';
  const result = await execa('perl', ['-e', script, path], { reject: false });
  if (result.exitCode !== 0) return undefined;
  return Number(result.stdout);
}

test('the copy of the base image is identical, sparse and written back', async (t) => {
  const dir = await withTempDir(t, 'bake-copy');
  const base = join(dir, 'base.bin');
  await writeSparseFile(base, 256, [
    [0, 24],
    [200, 8],
  ]);
  const copy = join(dir, 'copy.bin');
  if ((await dirtyPages(base)) === undefined)
    return t.skip('this kernel has no cachestat(2) to look at the page cache');

  await copyImage(createContext({ log: memoryLogger() }), base, copy);

  assert.equal(await sha256File(copy), await sha256File(base));
  const copied = await stat(copy);
  assert.ok(copied.blocks * 512 <= 40 * MIB, `copy allocates ${copied.blocks * 512} bytes for 32 MiB of data`);
  assert.equal(copied.mode & 0o777, 0o644);
  assert.equal(await dirtyPages(copy), 0, 'pages of the copy still wait to be written back');
});
