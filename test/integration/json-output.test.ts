/**
 * One JSON shape: every command with --json prints one object with `ok` and, on failure,
 * `error: {kind, message, exitCode}`, argument-parser errors included; each matches its schema in docs/schemas.
 */

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runBake, workspace } from '../support/bake-cli.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror } from '../support/fixtures.ts';
import { assertJsonOutput, compileAll, SCHEMA_NAMES } from '../support/json-schemas.ts';

test('every schema in docs/schemas compiles, and the error schema is among them', () => {
  compileAll();
  assert.ok(SCHEMA_NAMES.includes('error'));
  assert.ok(SCHEMA_NAMES.length > 10);
});

test('argument-parser errors are a JSON error object on stdout, with nothing on stderr', async (t) => {
  const ws = await workspace(t);
  for (const args of [['--frob'], ['sysext', 'versions'], ['vendors', '--arch']]) {
    const run = await runBake(ws, [...args, '--json']);
    assert.equal(run.exitCode, 2, run.stderr);
    assert.equal(run.stderr, '');
    const output = assertJsonOutput('error', run.stdout);
    assert.deepEqual(
      { ...(output.error as object), message: '', hint: '' },
      { kind: 'usage', message: '', hint: '', exitCode: 2 },
    );
  }
});

test('commands print their result as one object with ok', async (t) => {
  const ws = await workspace(t);
  const vendors = await runBake(ws, ['vendors', '--release', '4081.2.0', '--json']);
  assert.equal(vendors.exitCode, 0, vendors.stderr);
  assertJsonOutput('vendors', vendors.stdout);
  const recipes = await runBake(ws, ['sysext', 'list', '--json']);
  assert.equal(recipes.exitCode, 0, recipes.stderr);
  assertJsonOutput('sysext-list', recipes.stdout);
  await mkdir(join(ws.dir, 'repo'));
  await writeFile(join(ws.dir, 'repo', 'SHA256SUMS'), '');
  const listed = await runBake(ws, ['repo', 'list', join(ws.dir, 'repo'), '--json']);
  assert.equal(listed.exitCode, 0, listed.stderr);
  assert.equal(assertJsonOutput('repo-list', listed.stdout).ok, true);
});

test('a lint that finds problems prints one object with its findings and the error', async (t) => {
  const ws = await workspace(t);
  const image = await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
  const run = await runBake(ws, ['sysext', 'lint', image.path, '--arch', 'arm64', '--json']);
  assert.equal(run.exitCode, 3, run.stderr);
  const output = assertJsonOutput('sysext-lint', run.stdout);
  assert.equal(output.ok, false);
  assert.deepEqual(
    { kind: (output.error as { kind: string }).kind, exitCode: (output.error as { exitCode: number }).exitCode },
    { kind: 'input', exitCode: 3 },
  );
});

test("bake --dry-run, ignition and butane print their schemas' shape", async (t) => {
  const fx = await withReleaseMirror(t);
  const ws = await workspace(t, fx.env);
  await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
  const plan = await runBake(ws, ['--dry-run', '--json', 'hello:hello.raw']);
  assert.equal(plan.exitCode, 0, plan.stderr);
  assertJsonOutput('bake-plan', plan.stdout);
  const ignition = await runBake(ws, ['ignition', '--json', 'hello']);
  assert.equal(ignition.exitCode, 0, ignition.stderr);
  const config = assertJsonOutput('ignition', ignition.stdout).ignition as { ignition: { version: string } };
  assert.equal(config.ignition.version, '3.3.0');
  const plain = await runBake(ws, ['ignition', 'hello']);
  assert.deepEqual(JSON.parse(plain.stdout), config, 'without --json, the config alone');
  const butane = await runBake(ws, ['butane', '--json', 'hello']);
  assert.equal(butane.exitCode, 0, butane.stderr);
  assert.match(assertJsonOutput('butane', butane.stdout).butane as string, /^variant: flatcar/m);
});
