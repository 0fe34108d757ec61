/**
 * `bake boot` on what cannot boot: a file that is no disk image is refused before QEMU starts (exit 3),
 * and a disk with a partition table but no bootloader, which lands OVMF in its shell, fails the check
 * with a boot error (exit 9) once the shell shows, not after the whole --timeout. The execa timeout
 * behind the run is the bound: far shorter than the 600 s --timeout the check is given.
 */

import assert from 'node:assert/strict';
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import type { BootReport } from '../../bake/boot/check.ts';
import { assertNothingLeft, assertOneLineError, runBake, workspace } from '../support/bake-cli.ts';

test('a file that is not a disk image is refused before anything boots', async (t) => {
  const ws = await workspace(t);
  const notes = join(ws.dir, 'notes.img');
  await writeFile(notes, 'not a disk\n'.repeat(200));
  for (const args of [
    ['boot', '--check', notes],
    ['boot', notes],
  ]) {
    const run = await runBake(ws, args);
    assert.equal(run.exitCode, 3, run.stderr);
    assertOneLineError(run, /notes\.img is not a disk image \(it has no partition table\): give the baked image/);
  }
  await assertNothingLeft(ws);
});

test('a disk without a bootloader fails the check as soon as the firmware shell shows', {
  timeout: 360_000,
}, async (t) => {
  const ws = await workspace(t);
  const disk = join(ws.dir, 'empty-esp.raw');
  await writeFile(disk, '');
  await truncate(disk, 64 << 20);
  await execa('sgdisk', ['--clear', '--new', '1:0:+32M', '--typecode', '1:ef00', disk]); // an ESP with nothing in it
  const run = await runBake(
    ws,
    ['boot', '--check', '--json', '--accel', 'tcg', '--memory', '512', '--timeout', '600', disk],
    {},
    300_000,
  );
  const { report } = JSON.parse(run.stdout) as { report: BootReport };
  assert.equal(run.exitCode, 9, JSON.stringify(report, null, 2));
  assert.equal(report.problem, 'the firmware found nothing to boot and stopped at the UEFI shell prompt');
  assert.match(report.hint ?? '', /no EFI bootloader/);
  await assertNothingLeft(ws);
});
