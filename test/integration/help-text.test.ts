/**
 * Help text that reads the same everywhere and only says what applies to the command it is on.
 * (BAKE_CACHE_DIR itself is exercised by every mirror test: their cache is set through it.)
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBake, workspace } from '../support/bake-cli.ts';

test('environment notes have one spelling, and --bakery-url does not mention a --fetch the command lacks', async (t) => {
  const ws = await workspace(t);
  for (const command of [['--help'], ['ignition', '--help'], ['repo', 'list', '--help']]) {
    const run = await runBake(ws, command);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /download cache \(env BAKE_CACHE_DIR\)/, command.join(' '));
    assert.doesNotMatch(run.stdout, /\(env: /, command.join(' '));
    assert.doesNotMatch(run.stdout, /for --fetch/, command.join(' '));
  }
});

test('repeatable options show no empty-list default', async (t) => {
  const ws = await workspace(t);
  for (const command of [['--help'], ['boot', '--help'], ['sysext', 'wrap', '--help']]) {
    const run = await runBake(ws, command);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.doesNotMatch(run.stdout, /\(default: \[\]\)/, command.join(' '));
  }
});
