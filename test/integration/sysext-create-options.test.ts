/** The bakery's `create` options bake had lacked (--name, --ext-fs-size) and recipe options in `sysext list`. */

import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { BakeError } from '../../bake/core/errors.ts';
import { createSysext } from '../../bake/sysext/create.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const kind = (expected: string) => (error: unknown) => error instanceof BakeError && error.kind === expected;

let upstream: Upstream;
let work: string;
let env: Record<string, string>;

before(async () => {
  upstream = await startUpstream(['x86-64'], { only: ['wasmtime'] });
  work = await mkdtemp(join(tmpdir(), 'sysext-options-'));
  env = { BAKE_CACHE_DIR: join(work, 'cache'), ...upstream.env };
});

after(async () => {
  await upstream?.close();
  await rm(work, { recursive: true, force: true });
});

const bake = (args: string[]) =>
  execa('node', ['--import', 'tsx', 'bake/cli.ts', 'sysext', ...args], { env, reject: false });

test('--name gives the image another extension name: files, extension-release and sysupdate config', async () => {
  const outputDir = join(work, 'named');
  const run = await bake([
    'create',
    'wasmtime',
    'v27.0.0',
    '--name',
    'wasm-runtime',
    '--sysupdate',
    '--output-dir',
    outputDir,
  ]);
  assert.equal(run.exitCode, 0, run.stderr);
  assert.deepEqual((await readdir(outputDir)).sort(), [
    'SHA256SUMS.wasm-runtime',
    'wasm-runtime.conf',
    'wasm-runtime.raw',
  ]);
  const { stdout } = await execa('systemd-dissect', [join(outputDir, 'wasm-runtime.raw')]);
  assert.match(stdout, /✓ extension for system/);
  const { stdout: listing } = await execa('unsquashfs', ['-l', join(outputDir, 'wasm-runtime.raw')]);
  assert.match(listing, /extension-release\.wasm-runtime$/m);
  const invalid = await bake([
    'create',
    'wasmtime',
    'v27.0.0',
    '--name',
    '../evil',
    '--output-dir',
    join(work, 'evil'),
  ]);
  assert.equal(invalid.exitCode, 2);
});

test('--ext-fs-size sizes ext4 before shrinking: too small fails, automatic sizing stays the default', async () => {
  const ctx = upstream.context();
  const request = { name: 'wasmtime', version: 'v27.0.0', arch: 'x86-64', format: 'ext4' } as const;
  await assert.rejects(
    createSysext(ctx, { ...request, outputDir: join(work, 'tiny'), fsSize: 64 * 1024 }),
    kind('tool'),
  );
  await assert.rejects(readdir(join(work, 'tiny')), /ENOENT/);
  await createSysext(ctx, { ...request, outputDir: join(work, 'sized'), fsSize: 32 << 20 });
  await createSysext(ctx, { ...request, outputDir: join(work, 'automatic') });
  await assert.rejects(
    createSysext(ctx, { ...request, format: 'squashfs', outputDir: join(work, 'squashfs'), fsSize: 32 << 20 }),
    kind('usage'),
  );
  const badSize = await bake([
    'create',
    'wasmtime',
    'v27.0.0',
    '--format',
    'ext4',
    '--ext-fs-size',
    'lots',
    '--output-dir',
    join(work, 'bad'),
  ]);
  assert.equal(badSize.exitCode, 2);
});

test('sysext list shows every recipe option with its description and choices', async () => {
  const text = await bake(['list']);
  assert.equal(text.exitCode, 0, text.stderr);
  assert.match(text.stdout, /^docker +--without <part> +leave out docker or containerd \(docker, containerd\)$/m);
  assert.match(text.stdout, /^kubernetes +--cni-version <version> +CNI plugins release/m);
  assert.match(text.stdout, /^llamaedge +--wasmedge-version <version> +required: /m);
  const json = JSON.parse((await bake(['list', '--json'])).stdout) as {
    recipes: Array<{ name: string; optionDetails: Array<{ flag: string; choices?: string[] }> }>;
  };
  const docker = json.recipes.find((r) => r.name === 'docker');
  assert.deepEqual(
    docker?.optionDetails.map((o) => [o.flag, o.choices]),
    [['--without <part>', ['docker', 'containerd']]],
  );
});
