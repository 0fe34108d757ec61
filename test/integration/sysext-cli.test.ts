/** `bake sysext ...` as a user runs it: real process, endpoints from the environment, exit codes. */

import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { assertJsonOutput } from '../support/json-schemas.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

let upstream: Upstream;
let work: string;
let env: Record<string, string>;

before(async () => {
  upstream = await startUpstream(['x86-64']);
  work = await mkdtemp(join(tmpdir(), 'sysext-cli-'));
  env = {
    BAKE_CACHE_DIR: join(work, 'cache'),
    BAKE_BAKERY_URL: 'https://bakery.example.test/extensions',
    ...upstream.env,
  };
});

after(async () => {
  await upstream?.close();
  await rm(work, { recursive: true, force: true });
});

const bake = (args: string[]) =>
  execa('node', ['--import', 'tsx', 'bake/cli.ts', 'sysext', ...args], { env, reject: false });

test('list --json describes every recipe', async () => {
  const { stdout, exitCode } = await bake(['list', '--json']);
  assert.equal(exitCode, 0);
  const docker = (
    assertJsonOutput('sysext-list', stdout) as {
      recipes: Array<{ name: string; options: string[]; verifiesChecksums: boolean }>;
    }
  ).recipes.find((r) => r.name === 'docker');
  assert.deepEqual(docker?.options, ['--without <part>']);
  assert.equal(docker?.verifiesChecksums, false);
});

test('versions --latest and create with a recipe option, --sysupdate and --json', async () => {
  const latest = await bake(['versions', 'kubernetes', '--latest']);
  assert.equal(latest.stdout, 'v1.31.4\nv1.30.8');
  const out = join(work, 'out');
  const { stdout, exitCode, stderr } = await bake([
    'create',
    'kubernetes',
    'latest',
    '--cni-version',
    'v1.6.1',
    '--sysupdate',
    '--output-dir',
    out,
    '--json',
  ]);
  assert.equal(exitCode, 0, stderr);
  assert.equal(assertJsonOutput('sysext-create', stdout).version, 'v1.31.4');
  assert.deepEqual((await readdir(out)).sort(), [
    'SHA256SUMS.kubernetes',
    'kubernetes-v1.31.conf',
    'kubernetes.conf',
    'kubernetes.raw',
  ]);
});

test('bad input exits with the usage code and one line; lint findings exit with the input code', async () => {
  const unknownOption = await bake(['create', 'docker', '27.3.1', '--frob']);
  assert.equal(unknownOption.exitCode, 2);
  assert.equal(unknownOption.stderr, "bake: unexpected '--frob' for docker: its options: --without");
  const badFormat = await bake(['create', 'docker', '27.3.1', '--format', 'zip']);
  assert.equal(badFormat.exitCode, 2);
  const lint = await bake(['lint', join(work, 'out', 'kubernetes.raw'), '--arch', 'arm64']);
  assert.equal(lint.exitCode, 3);
  assert.match(lint.stdout, /usr\/bin\/kubectl: ELF machine 62, expected 183 \(arm64\) \[elf-arch\]/);
});
