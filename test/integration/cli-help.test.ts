/**
 * Finding your way from the command line: help lists every command, `bake help X` works, subcommand
 * usage names `bake`, and a near-miss command gets "did you mean" instead of a sysext-syntax error.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execa } from 'execa';
import { COMMAND_NAMES } from '../../bake/commands/index.ts';
import { assertOneLineError, runBake, workspace } from '../support/bake-cli.ts';

test('bake --help lists every command with an example', async (t) => {
  const ws = await workspace(t);
  const run = await runBake(ws, ['--help']);
  assert.equal(run.exitCode, 0, run.stderr);
  for (const name of COMMAND_NAMES)
    assert.match(run.stdout, new RegExp(`^  ${name} .+\\n\\s+\\$ .*bake ${name}`, 'm'), name);
  assert.deepEqual((await runBake(ws, ['help'])).stdout, run.stdout, 'bake help is bake --help');
});

test('bake help <command> shows that command, with usage that names bake', async (t) => {
  const ws = await workspace(t);
  const sysext = await runBake(ws, ['help', 'sysext']);
  assert.equal(sysext.exitCode, 0, sysext.stderr);
  assert.match(sysext.stdout, /^Usage: bake sysext \[options\] \[command\]/);
  const create = await runBake(ws, ['help', 'sysext', 'create']);
  assert.match(create.stdout, /^Usage: bake sysext create \[options\] <name> <version>/);
});

test('a near-miss command gets the command it meant', async (t) => {
  const ws = await workspace(t);
  for (const [typo, meant] of [
    ['vendor', 'vendors'],
    ['ignitoin', 'ignition'],
    ['sysexts', 'sysext'],
  ]) {
    const run = await runBake(ws, [typo!]);
    assert.equal(run.exitCode, 2, run.stderr);
    assertOneLineError(run, new RegExp(`'${typo}' is not a bake command: did you mean 'bake ${meant}'\\?`));
  }
});

test('-V prints the version', async (t) => {
  const run = await runBake(await workspace(t), ['-V']);
  assert.equal(run.exitCode, 0);
  assert.match(run.stdout, /^\d+\.\d+\.\d+$/); // execa strips the final newline
});

test('bash completion completes commands, subcommands, flags, vendors, channels and recipes', async (t) => {
  const ws = await workspace(t);
  const script = await runBake(ws, ['completion', 'bash']);
  assert.equal(script.exitCode, 0, script.stderr);
  const complete = async (...words: string[]) => {
    const line = ['bake', ...words];
    const program = `${script.stdout}\nCOMP_WORDS=(${line.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${line.length - 1}; _bake; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const { stdout } = await execa('bash', ['-c', program], { cwd: ws.dir });
    return stdout.split('\n').filter(Boolean);
  };
  assert.deepEqual(await complete('sys'), ['sysext']);
  assert.deepEqual(await complete('sysext', 'cr'), ['create']);
  assert.ok((await complete('sysext', 'create', 'dock')).includes('docker'));
  assert.deepEqual(await complete('--vendor', 'azu'), ['azure']);
  assert.deepEqual(await complete('--release', 'st'), ['stable']);
  assert.ok((await complete('--fe')).includes('--fetch'));
  assert.ok((await complete('boot', '--ch')).includes('--check'));
});

test('completion for an unknown shell is a usage error', async (t) => {
  const run = await runBake(await workspace(t), ['completion', 'tcsh']);
  assert.equal(run.exitCode, 2);
  assertOneLineError(run, /no completion for shell 'tcsh'/);
});
