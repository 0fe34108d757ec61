/**
 * `bake doctor` on this host and on a PATH narrowed to hide tools: each missing tool is reported with
 * what it disables and its package, and a missing tool every bake needs fails the check (exit 4).
 */

import assert from 'node:assert/strict';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Finding } from '../../bake/commands/doctor.ts';
import { findTool } from '../../bake/core/exec.ts';
import { assertOneLineError, runBake, workspace } from '../support/bake-cli.ts';

function finding(stdout: string, name: string): Finding {
  const { findings } = JSON.parse(stdout) as { findings: Finding[] };
  const found = findings.find((f) => f.name === name);
  assert.ok(found, `no finding for ${name}`);
  return found;
}

test('doctor on the set-up host finds every tool a bake needs', async (t) => {
  const run = await runBake(await workspace(t), ['doctor', '--json']);
  assert.equal(run.exitCode, 0, run.stdout + run.stderr);
  assert.equal((JSON.parse(run.stdout) as { ok: boolean }).ok, true);
  assert.equal(finding(run.stdout, 'mksquashfs').status, 'ok');
  assert.equal(finding(run.stdout, 'root or passwordless sudo').status, 'ok');
});

test('doctor with tools hidden names each missing one, what it disables and its package', async (t) => {
  const ws = await workspace(t);
  const bin = join(ws.dir, 'bin');
  await mkdir(bin);
  await symlink((await findTool('gpg'))!, join(bin, 'gpg'));
  const run = await runBake(ws, ['doctor', '--json'], { PATH: bin });
  assert.equal(run.exitCode, 4, run.stdout + run.stderr);
  assert.equal(finding(run.stdout, 'gpg').status, 'ok');
  const squashfs = finding(run.stdout, 'mksquashfs');
  assert.deepEqual(
    [squashfs.status, squashfs.fix, squashfs.everyBake],
    ['missing', 'apt-get install squashfs-tools', false],
  );
  assert.match(squashfs.detail, /build squashfs sysexts/);
  const bzip2 = finding(run.stdout, 'lbzip2 | pbzip2 | bzip2');
  assert.deepEqual([bzip2.status, bzip2.everyBake], ['missing', true]);
  assert.equal(finding(run.stdout, 'podman | docker').area, 'container runtime');

  const text = await runBake(ws, ['doctor'], { PATH: bin });
  assert.match(text.stdout, /^MISSING\s+tool\s+mksquashfs\s+.*apt-get install squashfs-tools/m);
  assertOneLineError(text, /a bake needs what is missing here: lbzip2 \| pbzip2 \| bzip2, /);
  assert.equal(text.exitCode, 4);
});
