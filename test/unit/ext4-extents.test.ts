/**
 * The extents debugfs reports for a file bake is about to copy into: they come from the image's own
 * allocation, so a listing that leaves a block unmapped, maps one twice or points outside the
 * filesystem is refused before a byte is written.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BakeError } from '../../bake/core/errors.ts';
import { type FileToFill, markWrittenCommands, parseExtents } from '../../bake/image/ext4-extents.ts';

const fs = { image: '/nonexistent/disk.bin', partition: { offsetBytes: 0 } as never, label: 'ROOT' };
/** 10 blocks of 4 KiB, the last one partly used, in a filesystem of 1000 blocks. */
const file: FileToFill = {
  from: '/nonexistent/big.raw',
  path: '/opt/big.raw',
  size: 9 * 4096 + 1,
  geometry: { blockSize: 4096, blocksCount: 1000, allocatable: true },
};
const listing = (...lines: string[]) => Buffer.from(lines.map((line) => `${line}\n`).join(''));
const refused = (error: unknown) => error instanceof BakeError && error.kind === 'tool';

test('the extents of a file allocated in two pieces', () => {
  const extents = parseExtents(
    fs,
    file,
    listing(
      'extent: lblk 0--3, len 4, pblk 100, flags: LEAF UNINIT ',
      'extent: lblk 4--9, len 6, pblk 500, flags: LEAF UNINIT ',
    ),
    { written: false },
  );
  assert.deepEqual(extents, [
    { logical: 0, length: 4, physical: 100, unwritten: true },
    { logical: 4, length: 6, physical: 500, unwritten: true },
  ]);
  assert.deepEqual(markWrittenCommands('"/opt/big.raw"', extents), [
    'extent_open "/opt/big.raw"',
    'goto_block 0',
    'replace_node 0 4 100',
    'goto_block 4',
    'replace_node 4 6 500',
    'extent_close',
  ]);
});

test('a listing that does not map every block exactly once is refused', () => {
  const cases = {
    gap: ['extent: lblk 0--3, len 4, pblk 100, flags: LEAF ', 'extent: lblk 5--9, len 5, pblk 500, flags: LEAF '],
    overlap: ['extent: lblk 0--5, len 6, pblk 100, flags: LEAF ', 'extent: lblk 4--9, len 6, pblk 500, flags: LEAF '],
    short: ['extent: lblk 0--8, len 9, pblk 100, flags: LEAF '],
    long: ['extent: lblk 0--10, len 11, pblk 100, flags: LEAF '],
    'length that disagrees with its range': ['extent: lblk 0--9, len 12, pblk 100, flags: LEAF '],
    none: [],
  };
  for (const [name, lines] of Object.entries(cases))
    assert.throws(() => parseExtents(fs, file, listing(...lines), { written: true }), refused, name);
});

test('blocks outside the filesystem, or on its first block, are refused', () => {
  for (const pblk of [995, 0, 2 ** 40])
    assert.throws(
      () => parseExtents(fs, file, listing(`extent: lblk 0--9, len 10, pblk ${pblk}, flags: LEAF `), { written: true }),
      refused,
      `pblk ${pblk}`,
    );
});

test('an extent still unwritten after marking, or a line of another form, is refused', () => {
  const unwritten = listing('extent: lblk 0--9, len 10, pblk 100, flags: LEAF UNINIT ');
  assert.throws(() => parseExtents(fs, file, unwritten, { written: true }), refused);
  const index = listing('extent: lblk 0--9, len 10, pblk 100, flags: ');
  assert.throws(() => parseExtents(fs, file, index, { written: false }), refused);
  const other = listing('(0-9):100-109');
  assert.throws(() => parseExtents(fs, file, other, { written: false }), refused);
});
