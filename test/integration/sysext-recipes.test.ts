/**
 * Every recipe, both arches, built against the stand-in upstream on the local mirror: each image passes
 * lint (createSysext refuses otherwise), systemd-dissect accepts it as an extension for its arch, and
 * the sysupdate configs carry the bakery's names.
 */

import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import type { Arch } from '../../bake/core/arch.ts';
import { recipeNames } from '../../bake/sysext/catalog.ts';
import { createSysext } from '../../bake/sysext/create.ts';
import { STANDIN_VERSIONS } from '../support/fixtures/upstream.ts';
import { ensureStandInBuildImage, removeStandInBuildImage } from '../support/fixtures/upstream-build-image.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const BAKERY_RELEASED = [
  'crio',
  'docker',
  'docker-compose',
  'falco',
  'k3s',
  'keepalived',
  'kubernetes',
  'nerdctl',
  'nvidia-runtime',
  'ollama',
  'rke2',
  'tailscale',
  'wasmcloud',
  'wasmedge',
  'wasmtime',
];
const SOURCE_BUILDS = new Set(['keepalived', 'nvidia-runtime']);
const PATCH_LEVEL = new Set(['kubernetes', 'k3s', 'rke2']);

let upstream: Upstream;
let out: string;
let buildImage: string;

before(async () => {
  upstream = await startUpstream();
  out = await mkdtemp(join(tmpdir(), 'sysext-recipes-'));
  buildImage = await ensureStandInBuildImage();
});

after(async () => {
  await upstream?.close();
  await rm(out, { recursive: true, force: true });
  await removeStandInBuildImage();
});

test('the catalogue holds at least the 15 extensions the bakery releases', () => {
  for (const name of BAKERY_RELEASED) assert.ok(recipeNames().includes(name), name);
});

for (const name of BAKERY_RELEASED) {
  for (const arch of ['x86-64', 'arm64'] as Arch[]) {
    test(`${name} builds for ${arch}, passes lint and systemd-dissect`, async () => {
      const version = STANDIN_VERSIONS[name]!;
      const outputDir = join(out, `${name}-${arch}`);
      const result = await createSysext(upstream.context(), {
        name,
        version,
        arch,
        outputDir,
        outputFile: `${name}-${version}-${arch}`,
        sysupdate: true,
        ...(SOURCE_BUILDS.has(name) ? { options: { 'build-image': buildImage } } : {}),
      });
      assert.equal(result.image, join(outputDir, `${name}-${version}-${arch}.raw`));
      const minor = /^(v?\d+\.\d+)\./.exec(version)![1];
      const expected = [
        `${name}-${version}-${arch}.raw`,
        `${name}.conf`,
        `SHA256SUMS.${name}`,
        ...(PATCH_LEVEL.has(name) ? [`${name}-${minor}.conf`] : []),
      ];
      assert.deepEqual((await readdir(outputDir)).sort(), expected.sort());
      // systemd-dissect only calls an image an extension when the file name matches extension-release.
      const named = join(outputDir, `${name}.raw`);
      await execa('ln', ['-s', result.image, named]);
      const { stdout } = await execa('systemd-dissect', [named]);
      assert.match(stdout, /✓ extension for system/);
      assert.match(stdout, new RegExp(`ARCHITECTURE=${arch}`));
    });
  }
}
