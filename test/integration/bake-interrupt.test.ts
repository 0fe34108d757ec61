/**
 * Ctrl-C (SIGINT) and SIGTERM at every stage of a bake: exit 130 and nothing left behind, including
 * while the image partitions are attached and mounted. BAKE_PAUSE_BEFORE holds bake at a precise point.
 */

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertNothingLeft, runBake, startBake, type Workspace, workspace } from '../support/bake-cli.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror } from '../support/fixtures.ts';

/** Starts a bake held before `point` and resolves once it waits there; its stderr keeps being collected. */
async function pausedAt(ws: Workspace, point: string) {
  const child = startBake(ws, ['--output', 'out', 'hello:hello.raw'], { BAKE_PAUSE_BEFORE: point });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes(`paused before ${point}`)) resolve();
    });
    child.once('exit', () => reject(new Error(`bake exited before reaching ${point}:\n${stderr}`)));
  });
  return { child, stderrSoFar: () => stderr };
}

async function interruptAt(
  ws: Workspace,
  point: string,
  signal: NodeJS.Signals,
): Promise<{ exitCode: number; stderr: string }> {
  const { child, stderrSoFar } = await pausedAt(ws, point);
  child.kill(signal);
  const result = await child;
  return { exitCode: result.exitCode ?? -1, stderr: stderrSoFar() + String(result.stderr ?? '') };
}

test('interrupting bake', async (t) => {
  const fx = await withReleaseMirror(t, { releases: [{ version: '4593.2.5', channel: 'stable', arches: ['amd64'] }] });
  const warmCache = join((await workspace(t)).dir, 'warm-cache');
  const setup = await workspace(t, { ...fx.env, BAKE_CACHE_DIR: warmCache });
  await makeSysextImage(join(setup.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
  assert.equal((await runBake(setup, ['--output', 'out', 'hello:hello.raw'])).exitCode, 0, 'warm-up bake');

  const points: Array<{ point: string; cold?: boolean }> = [
    { point: 'resolve' },
    { point: 'sysexts' },
    { point: 'download', cold: true },
    { point: 'verify', cold: true },
    { point: 'decompress', cold: true },
    { point: 'copy' },
    { point: 'install' },
    { point: 'mounted' },
    { point: 'publish' },
  ];
  for (const [index, { point, cold }] of points.entries()) {
    const signal: NodeJS.Signals = index % 2 === 0 ? 'SIGINT' : 'SIGTERM';
    await t.test(`${signal} before ${point}`, async (t) => {
      const ws = await workspace(t, { ...fx.env, BAKE_CACHE_DIR: cold ? join(setup.dir, `cold-${point}`) : warmCache });
      await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
      const result = await interruptAt(ws, point, signal);
      assert.equal(result.exitCode, 130, result.stderr);
      assert.match(result.stderr, new RegExp(`bake: interrupted by ${signal}`));
      await assertNothingLeft(ws);
    });
  }

  await t.test('a reader that goes away while the partitions are mounted stops bake cleanly', async (t) => {
    const ws = await workspace(t, { ...fx.env, BAKE_CACHE_DIR: warmCache });
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    const { child } = await pausedAt(ws, 'mounted');
    // As `bake ... 2>&1 | head` does: the reader closes, then bake writes (here: the Ctrl-C notice).
    child.stderr!.destroy();
    child.kill('SIGINT');
    const result = await child;
    assert.equal(result.exitCode, 130);
    await assertNothingLeft(ws);
  });
});
