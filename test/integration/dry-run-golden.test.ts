/**
 * The plans `bake --dry-run --json` prints for a representative set of bakes, compared with reviewed
 * golden files (test/fixtures/golden/dry-run/*.json), so any change to what a bake would do shows up in
 * a diff. UPDATE_GOLDEN=1 re-records them. What differs per run (the mirror's port, temp paths) is
 * replaced by placeholders first.
 */

import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { runBake, workspace } from '../support/bake-cli.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror } from '../support/fixtures.ts';

const GOLDEN = resolve(import.meta.dirname, '../fixtures/golden/dry-run');

const CASES: Record<string, string[]> = {
  local: ['hello:hello.raw'],
  fetch: ['--fetch', 'docker:docker-27.3.1-x86-64.raw'],
  oem: ['--install_to', 'oem:/extensions', 'hello:hello.raw'],
  built: ['docker@27.3.1'],
  'vendor-native': ['--release', 'beta', '--vendor', 'azure', 'hello:hello.raw'],
  'vendor-sdk': ['--release', 'stable', '--vendor', 'azure', 'hello:hello.raw'],
  arm64: ['--arch', 'arm64', 'hello:hello-arm64.raw'],
};

function normalise(text: string, replacements: Array<[string, string]>): unknown {
  let normalised = text;
  for (const [from, to] of replacements) normalised = normalised.replaceAll(from, to);
  return JSON.parse(normalised);
}

test('--dry-run --json plans match the reviewed golden files', async (t) => {
  const fx = await withReleaseMirror(t);
  const ws = await workspace(t, fx.env);
  await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
  await makeSysextImage(join(ws.dir, 'hello-arm64.raw'), { name: 'hello', arch: 'arm64', format: 'ext4' });
  const replacements: Array<[string, string]> = [
    [fx.mirror.url, '{mirror}'],
    [fx.env.BAKE_CACHE_DIR, '{cache}'],
    [ws.dir, '{cwd}'],
  ];
  await mkdir(GOLDEN, { recursive: true });
  for (const [name, args] of Object.entries(CASES)) {
    await t.test(name, async () => {
      const run = await runBake(ws, ['--dry-run', '--json', ...args]);
      assert.equal(run.exitCode, 0, run.stderr + run.stdout);
      const plan = normalise(run.stdout, replacements);
      const file = join(GOLDEN, `${name}.json`);
      if (process.env.UPDATE_GOLDEN) await writeFile(file, `${JSON.stringify(plan, null, 2)}\n`);
      assert.deepEqual(
        plan,
        JSON.parse(await readFile(file, 'utf8')),
        `the plan of '${name}' changed; review it and re-record with UPDATE_GOLDEN=1`,
      );
    });
  }

  await t.test('the plan takes endpoint flags, not only their variables (the run uses the flags)', async () => {
    const tarballs = 'http://127.0.0.1:9/scripts/{tag}.tar.gz';
    const run = await runBake(ws, ['--dry-run', '--json', '--scripts-tarball-url', tarballs, ...CASES['vendor-sdk']!]);
    assert.equal(run.exitCode, 0, run.stderr);
    const plan = JSON.parse(run.stdout) as { vendors: Array<{ route: string; downloads: string[] }> };
    assert.equal(plan.vendors[0]?.route, 'sdk');
    assert.ok(
      plan.vendors[0]?.downloads.includes('http://127.0.0.1:9/scripts/stable-4593.2.5.tar.gz'),
      plan.vendors[0]?.downloads.join('\n'),
    );
  });

  await t.test("a recipe's endpoint flag is taken by bake name@version, as by bake sysext create", async () => {
    const docker = 'http://127.0.0.1:9/docker';
    const run = await runBake(ws, ['--dry-run', '--json', '--docker-download-url', docker, ...CASES.built!]);
    assert.equal(run.exitCode, 0, run.stderr);
    const plan = JSON.parse(run.stdout) as { sysexts: Array<{ downloads: string[] }> };
    assert.deepEqual(plan.sysexts[0]?.downloads, [`${docker}/linux/static/stable/x86_64/docker-27.3.1.tgz`]);
    const plain = await runBake(ws, ['--dry-run', '--docker-download-url', docker, 'hello:hello.raw']);
    assert.equal(plain.exitCode, 2, 'a bake that builds no recipe has no recipe flags');
  });
});
