/**
 * What a bake tells its user while it runs and when it ends, piped as in a log: downloads with their
 * share, decoding with bytes and share, cache hits named, the summary with release, size and time;
 * --quiet and --json keep stderr free of progress.
 */

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { runBake, workspace } from '../support/bake-cli.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror } from '../support/fixtures.ts';
import { assertJsonOutput } from '../support/json-schemas.ts';

const STAGE_TITLES = [
  'Resolve release',
  'Get and check sysexts',
  'Download release',
  'Verify signatures',
  'Decompress image',
  'Copy image',
  'Install sysexts',
  'Make vendor image',
  'Move result into place',
];

test('progress and summary', async (t) => {
  const fx = await withReleaseMirror(t);
  const ws = await workspace(t, { ...fx.env, BAKE_CACHE_DIR: join((await workspace(t)).dir, 'cache') });
  await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
  const bake = (...flags: string[]) => runBake(ws, [...flags, '--force', '--output', 'out', 'hello:hello.raw']);

  await t.test('a cold bake shows the download share and the decoded bytes of the image', async () => {
    const run = await bake();
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(
      run.stderr,
      /flatcar_production_image\.bin\.bz2: [\d.]+ (B|KiB|MiB) of [\d.]+ (B|KiB|MiB) \(100%\) at /,
    );
    assert.match(run.stderr, /decoded [\d.]+ MiB of [\d.]+ MiB \(100%\)/);
    assert.doesNotMatch(run.stderr, /0\.0 MiB of 0\.0 MiB/);
  });

  await t.test("the summary gives the release, the output's size and the time taken", async () => {
    const run = await bake();
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /^Flatcar 4593\.2\.5 \(stable, amd64-usr\) baked in [\d.]+ (s|min)/m);
    assert.match(run.stdout, /out\/flatcar_production_image\.bin \([\d.]+ MiB\)$/m);
  });

  await t.test('a warm bake says "cached" for the download and the decoding, and lists every stage', async () => {
    const run = await bake();
    assert.equal(run.exitCode, 0, run.stderr);
    const lines = run.stderr.split('\n');
    const after = (title: string) => lines[lines.findIndex((line) => line.includes(title)) + 1] ?? '';
    assert.match(after('Download release'), /cached/);
    assert.match(after('Decompress image'), /cached/);
    for (const title of STAGE_TITLES) assert.ok(run.stderr.includes(title), `stage '${title}' listed:\n${run.stderr}`);
  });

  await t.test('--quiet prints the result and nothing on stderr', async () => {
    const run = await bake('--quiet');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.match(run.stdout, /flatcar_production_image\.bin/);
  });

  await t.test('--json prints no progress on stderr, unless --verbose asks', async () => {
    const quiet = await bake('--json');
    assert.equal(quiet.exitCode, 0, quiet.stderr);
    assert.equal(quiet.stderr, '');
    const result = assertJsonOutput('bake', quiet.stdout) as { ok: boolean; elapsedMs: number; outputBytes: number[] };
    assert.equal(result.ok, true);
    assert.ok(result.elapsedMs > 0 && result.outputBytes[0]! > 0);
    const verbose = await bake('--json', '--verbose');
    assert.equal(verbose.exitCode, 0, verbose.stderr);
    assert.match(verbose.stderr, /Install sysexts/);
  });
});
