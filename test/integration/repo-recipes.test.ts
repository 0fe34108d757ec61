/**
 * `bake repo build` through the real extension builder: recipes built from the stand-in upstream
 * (the local mirror in the upstream URL layouts), published in the bakery's layout, then `bake --fetch`
 * bakes from that repository as a user's own bakery.
 */

import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseSums } from '../../bake/core/checksums.ts';
import { assertNothingLeft, runBake, runServe, workspace } from '../support/bake-cli.ts';
import { withReleaseMirror } from '../support/fixtures.ts';
import { startUpstream } from '../support/upstream.ts';

test('repo build builds recipes from upstream, and bake --fetch bakes from the repository', async (t) => {
  const upstream = await startUpstream(['x86-64', 'arm64'], { only: ['docker', 'wasmtime'] });
  t.after(() => upstream.close());
  const upstreamEnv = upstream.env;
  const ws = await workspace(t, upstreamEnv);
  const repo = join(ws.dir, 'repo');
  await writeFile(join(ws.dir, 'versions.txt'), '# what this fleet runs\ndocker 27.3.1\nwasmtime latest\n');

  const build = await runBake(ws, [
    'repo',
    'build',
    repo,
    '--config',
    join(ws.dir, 'versions.txt'),
    '--bakery-url',
    'https://bakery.example.test/extensions',
    '--json',
  ]);
  assert.equal(build.exitCode, 0, build.stderr);
  for (const file of [
    'docker-27.3.1/docker-27.3.1-x86-64.raw',
    'docker-27.3.1/docker-27.3.1-arm64.raw',
    'docker-27.3.1/docker.conf',
    'wasmtime-v27.0.0/wasmtime-v27.0.0-arm64.raw',
    'docker/SHA256SUMS',
    'SHA256SUMS',
  ]) {
    assert.ok((await stat(join(repo, file))).isFile(), file);
  }
  const global = parseSums(await readFile(join(repo, 'SHA256SUMS'), 'utf8')).map((line) => line.file);
  assert.ok(
    global.some((file) => file.endsWith('docker-27.3.1-x86-64.raw')),
    global.join('\n'),
  );
  const again = await runBake(ws, ['repo', 'build', repo, '--config', join(ws.dir, 'versions.txt'), '--json']);
  assert.equal(again.exitCode, 0, again.stderr);
  assert.match(again.stdout, /"built":\[\]/, 'nothing is rebuilt');

  // Serve the repository and bake from it with --fetch, as from extensions.flatcar.org.
  const releases = await withReleaseMirror(t, {
    releases: [{ version: '4593.2.5', channel: 'stable', arches: ['amd64'] }],
    bakery: [],
  });
  const { url: server } = await runServe(t, ws, repo);
  const bakeWs = await workspace(t, { ...releases.env, BAKE_BAKERY_URL: server });
  const baked = await runBake(bakeWs, ['--fetch', '--json', '--output', 'out', 'docker@27.3.1', 'wasmtime@latest']);
  assert.equal(baked.exitCode, 0, baked.stderr);
  const installed = JSON.parse(baked.stdout).installed as Array<{ path: string; conf?: string }>;
  assert.deepEqual(
    installed.map((i) => i.path),
    ['/opt/extensions/docker/docker-27.3.1-x86-64.raw', '/opt/extensions/wasmtime/wasmtime-v27.0.0-x86-64.raw'],
  );
  assert.equal(installed[0]!.conf, '/etc/sysupdate.docker.d/docker.conf');
  await assertNothingLeft(bakeWs, ['flatcar_production_image.bin']);
});
