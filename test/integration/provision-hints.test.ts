/**
 * `bake ignition`/`bake butane` against a bakery that lacks what a config names: the error says what the
 * bakery lacks, and the command its hint gives works when followed (it lists what the bakery has).
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertOneLineError, type BakeRun, runBake, workspace } from '../support/bake-cli.ts';
import { withReleaseMirror } from '../support/fixtures.ts';

/** The `bake …` command a one-line error's hint names, as arguments. */
function hintedCommand(run: BakeRun): string[] {
  const command = /: (?:bake) ([^,]+?)(?:,|$)/.exec(run.stderr.trimEnd().split('\n').at(-1) ?? '')?.[1];
  assert.ok(command, `no bake command in the hint: ${run.stderr}`);
  return command.split(' ');
}

test('provisioning hints point at a command that lists what the bakery has', async (t) => {
  const fx = await withReleaseMirror(t);
  const ws = await workspace(t, fx.env);

  await t.test('a version the bakery does not publish', async () => {
    const run = await runBake(ws, ['ignition', 'hello@9.9.9']);
    assert.equal(run.exitCode, 3, run.stderr);
    assertOneLineError(run, /hello-9\.9\.9-x86-64\.raw is not listed/);
    const followed = await runBake(ws, hintedCommand(run));
    assert.equal(followed.exitCode, 0, followed.stderr);
    assert.match(followed.stdout, /hello/);
  });

  await t.test('an extension the bakery does not have is named as such, not as a release problem', async () => {
    const run = await runBake(ws, ['butane', 'nosuch']);
    assert.equal(run.exitCode, 3, run.stderr);
    assertOneLineError(run, /publishes no extension 'nosuch'/);
    assert.doesNotMatch(run.stderr, /release version/);
    const followed = await runBake(ws, hintedCommand(run));
    assert.equal(followed.exitCode, 0, followed.stderr);
  });

  await t.test('bake repo list defaults to --bakery-url', async () => {
    const run = await runBake(ws, ['repo', 'list']);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /hello/);
  });
});
