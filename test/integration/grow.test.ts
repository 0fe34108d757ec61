import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { test } from 'node:test';
import { execa } from 'execa';
import { BakeError } from '../../bake/core/errors.ts';
import { readGpt } from '../../bake/image/gpt.ts';
import { growRootPartition } from '../../bake/image/grow.ts';
import { withFlatcarDisk } from '../support/fixtures.ts';

test('ROOT grows in place: same start, type, GUID and label; a valid GPT by sgdisk', async (t) => {
  const disk = await withFlatcarDisk(t);
  const before = (await readGpt(disk.path)).partitions.find((p) => p.number === 9)!;
  const grown = await growRootPartition(disk.path, 100 * 1024 * 1024);
  assert.equal(grown.firstLba, before.firstLba);
  assert.ok(grown.sizeBytes >= before.sizeBytes + 100 * 1024 * 1024);
  assert.equal(grown.sizeBytes % (2 * 1024 * 1024), 0, 'ends on a 2 MiB boundary');
  assert.deepEqual([grown.label, grown.typeGuid, grown.partGuid], [before.label, before.typeGuid, before.partGuid]);
  assert.equal((await stat(disk.path)).size, grown.offsetBytes + grown.sizeBytes + 2 * 1024 * 1024);
  const verify = await execa('sgdisk', ['--verify', disk.path]);
  assert.match(verify.stdout, /No problems found/);
});

test('ROOT that is not the last partition cannot grow: a space error, not a broken disk', async (t) => {
  const disk = await withFlatcarDisk(t);
  const root = (await readGpt(disk.path)).partitions.find((p) => p.number === 9)!;
  // Shrink p9 by hand and put a partition 10 behind it.
  await execa('sgdisk', [
    '-d',
    '9',
    `-n`,
    `9:${root.firstLba}:+16M`,
    `-t`,
    `9:${root.typeGuid}`,
    '-c',
    '9:ROOT',
    '-n',
    '10:0:0',
    disk.path,
  ]);
  await assert.rejects(growRootPartition(disk.path, 64 * 1024 * 1024), (error: unknown) => {
    assert.ok(error instanceof BakeError && error.kind === 'space');
    assert.match(error.message, /not the last partition/);
    return true;
  });
  await execa('sgdisk', ['--verify', disk.path]);
});
