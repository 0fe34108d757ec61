/** The progress lines of a bake: sizes people can read, a download's share, speed, time left and resume. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { humanBytes, humanDuration } from '../../bake/core/units.ts';
import { decodeLine, downloadLine, downloadProgress } from '../../bake/pipeline/progress.ts';

const MIB = 2 ** 20;
const url = 'http://127.0.0.1/stable/flatcar_production_image.bin.bz2';

test('sizes: a tiny file is not "0.0 MiB"', () => {
  assert.equal(humanBytes(0), '0 B');
  assert.equal(humanBytes(700), '700 B');
  assert.equal(humanBytes(3 * 1024 + 512), '3.5 KiB');
  assert.equal(humanBytes(12.5 * MIB), '12.5 MiB');
  assert.equal(humanBytes(8 * 1024 * MIB), '8.00 GiB');
});

test('durations read as seconds, minutes, hours', () => {
  assert.equal(humanDuration(400), '0.4 s');
  assert.equal(humanDuration(42_000), '42 s');
  assert.equal(humanDuration(185_000), '3 min 05 s');
  assert.equal(humanDuration(3_720_000), '1 h 02 min');
});

test('a download line gives the share, the speed and the time left', () => {
  const line = downloadLine({ url, received: 100 * MIB, total: 400 * MIB, resumedFrom: 0 }, 10 * MIB);
  assert.equal(line, 'flatcar_production_image.bin.bz2: 100.0 MiB of 400.0 MiB (25%) at 10.0 MiB/s, 30 s left');
  assert.equal(
    downloadLine({ url, received: 400, total: 400, resumedFrom: 0 }, 400),
    'flatcar_production_image.bin.bz2: 400 B of 400 B (100%) at 400 B/s',
  );
  assert.equal(
    downloadLine({ url, received: 3 * MIB, resumedFrom: 0 }, MIB),
    'flatcar_production_image.bin.bz2: 3.0 MiB at 1.0 MiB/s',
  );
});

test('a resumed download says so, and its speed counts only the bytes fetched now', () => {
  let now = 1_000;
  const lines: string[] = [];
  const progress = downloadProgress(
    (line) => lines.push(line),
    () => now,
  );
  now += 2_000;
  progress({ url, received: 300 * MIB, total: 400 * MIB, resumedFrom: 280 * MIB });
  assert.equal(
    lines.at(-1),
    'flatcar_production_image.bin.bz2: 300.0 MiB of 400.0 MiB (75%) at 10.0 MiB/s, 10 s left (resumed at 280.0 MiB)',
  );
});

test('a retry that resumes mid-run measures its speed from when it resumed', () => {
  let now = 0;
  const lines: string[] = [];
  const progress = downloadProgress(
    (line) => lines.push(line),
    () => now,
  );
  now = 10_000;
  progress({ url, received: 100 * MIB, total: 200 * MIB, resumedFrom: 0 });
  now = 60_000; // the connection dropped and the retry starts from byte 100 MiB
  progress({ url, received: 101 * MIB, total: 200 * MIB, resumedFrom: 100 * MIB });
  now = 61_000;
  progress({ url, received: 110 * MIB, total: 200 * MIB, resumedFrom: 100 * MIB });
  assert.match(lines.at(-1)!, / at 10\.0 MiB\/s, 9\.0 s left \(resumed at 100\.0 MiB\)$/);
});

test('a decoding image shows bytes, and its share once its size is known', () => {
  assert.equal(decodeLine({ written: 512 * MIB }), 'decoded 512.0 MiB');
  assert.equal(decodeLine({ written: 2 * 1024 * MIB, total: 8 * 1024 * MIB }), 'decoded 2.00 GiB of 8.00 GiB (25%)');
});
