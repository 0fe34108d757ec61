/**
 * The catalogue's group B source builds (bird, chrony, haproxy, scx), both arches, in the stand-in build image
 * against stand-in upstreams in the real URL layouts: lint (createSysext refuses otherwise),
 * systemd-dissect, sysupdate configs, `systemd-sysext merge`; llamaedge; every group B recipe's version list.
 */

import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import type { Arch } from '../../bake/core/arch.ts';
import { BakeError } from '../../bake/core/errors.ts';
import { createSysext } from '../../bake/sysext/create.ts';
import { latestVersions, listVersions } from '../../bake/sysext/versions.ts';
import { STANDIN_VERSIONS } from '../support/fixtures/upstream.ts';
import { ensureStandInBuildImage, removeStandInBuildImage } from '../support/fixtures/upstream-build-image.ts';
import { STANDIN_VERSIONS_B } from '../support/fixtures/upstream-recipes-b.ts';
import { flatcarMergeRoot, runMerged } from '../support/sysext-merge.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const SOURCE_BUILDS = ['bird', 'chrony', 'haproxy', 'scx'];
/** Its own name: sysext-recipes.test.ts, running beside this file, removes the shared one when it ends. */
const BUILD_IMAGE = 'localhost/bake-standin-build-b:2';
const UNITS: Record<string, string> = {
  bird: 'bird.service',
  chrony: 'chronyd.service',
  haproxy: 'haproxy.service',
  scx: 'scx.service',
};

let upstream: Upstream;
let work: string;
let buildImage: string;

before(async () => {
  upstream = await startUpstream(['x86-64', 'arm64'], {
    only: [...SOURCE_BUILDS, 'btop', 'tilde', 'llamaedge', 'wasmedge'],
  });
  work = await mkdtemp(join(tmpdir(), 'sysext-recipes-b-'));
  buildImage = await ensureStandInBuildImage(BUILD_IMAGE);
});

after(async () => {
  await upstream?.close();
  await rm(work, { recursive: true, force: true });
  await removeStandInBuildImage(BUILD_IMAGE);
});

const outputDir = (name: string, arch: Arch) => join(work, `${name}-${arch}`);

for (const name of SOURCE_BUILDS) {
  for (const arch of ['x86-64', 'arm64'] as Arch[]) {
    test(`${name} builds from source for ${arch}, passes lint and systemd-dissect, upholds its unit`, async () => {
      const version = STANDIN_VERSIONS_B[name]!;
      const dir = outputDir(name, arch);
      const result = await createSysext(upstream.context(), {
        name,
        version,
        arch,
        outputDir: dir,
        sysupdate: true,
        options: { 'build-image': buildImage },
      });
      assert.deepEqual((await readdir(dir)).sort(), [`SHA256SUMS.${name}`, `${name}.conf`, `${name}.raw`]);
      const { stdout } = await execa('systemd-dissect', [result.image]);
      assert.match(stdout, /✓ extension for system/);
      assert.match(stdout, new RegExp(`ARCHITECTURE=${arch}`));
      const { stdout: listing } = await execa('unsquashfs', ['-l', result.image]);
      assert.match(
        listing,
        new RegExp(
          `usr/lib/systemd/system/multi-user.target.d/10-${UNITS[name]!.replace('.service', '')}\\.conf$`,
          'm',
        ),
      );
    });
  }
}

test('haproxy refuses a tarball that does not match its .sha256', async () => {
  const file = join(upstream.dir, 'www', 'www.haproxy.org/download/3.0/src/haproxy-3.0.7.tar.gz');
  const original = await readFile(file);
  await writeFile(file, Buffer.concat([original, Buffer.from('x')]));
  try {
    const ctx = upstream.context({ cacheDir: join(work, 'cache-haproxy') });
    const request = {
      name: 'haproxy',
      version: '3.0.7',
      arch: 'x86-64' as const,
      outputDir: join(work, 'haproxy-bad'),
      options: { 'build-image': buildImage },
    };
    await assert.rejects(
      createSysext(ctx, request),
      (error: unknown) => error instanceof BakeError && error.kind === 'verify',
    );
  } finally {
    await writeFile(file, original);
  }
});

test('scx --scheduler picks the scheduler its unit runs; an unknown one is refused before building', async () => {
  const ctx = upstream.context();
  const request = { name: 'scx', version: STANDIN_VERSIONS_B.scx!, arch: 'x86-64' as const };
  const result = await createSysext(ctx, {
    ...request,
    outputDir: join(work, 'scx-lavd'),
    options: { 'build-image': buildImage, scheduler: 'scx_lavd' },
  });
  const { stdout } = await execa('unsquashfs', ['-cat', result.image, 'usr/share/scx/scx']);
  assert.equal(stdout, 'SCX_SCHEDULER=scx_lavd\nSCX_FLAGS=');
  await assert.rejects(
    createSysext(ctx, {
      ...request,
      outputDir: join(work, 'scx-bad'),
      options: { 'build-image': buildImage, scheduler: 'scx_nope' },
    }),
    (error: unknown) => error instanceof BakeError && error.kind === 'usage',
  );
});

test('systemd-sysext merges the source builds and their binaries run', async () => {
  const root = join(work, 'merge-root');
  const extensions = await flatcarMergeRoot(root);
  for (const name of SOURCE_BUILDS) await execa('cp', [join(outputDir(name, 'x86-64'), `${name}.raw`), extensions]);
  const stdout = await runMerged(root, [
    '"$1/usr/bin/bird"; "$1/usr/bin/chronyd"; "$1/usr/bin/haproxy"; "$1/usr/bin/scx_rusty"',
    'test -f "$1/usr/lib/systemd/system/scx.service"',
  ]);
  assert.deepEqual(stdout.split('\n'), [
    'bird (x86_64 stand-in)',
    'chronyd (x86_64 stand-in)',
    'haproxy (x86_64 stand-in)',
    'scx_rusty (x86_64 stand-in)',
  ]);
});

for (const arch of ['x86-64', 'arm64'] as Arch[]) {
  test(`llamaedge for ${arch}: the API server and the plugin for the WasmEdge named, beside the wasmedge sysext`, async () => {
    const ctx = upstream.context();
    const dir = outputDir('llamaedge', arch);
    const wasmedge = STANDIN_VERSIONS.wasmedge!;
    const result = await createSysext(ctx, {
      name: 'llamaedge',
      version: 'latest',
      arch,
      outputDir: dir,
      sysupdate: true,
      options: { 'wasmedge-version': wasmedge },
    });
    assert.equal(result.version, STANDIN_VERSIONS_B.llamaedge);
    const { stdout } = await execa('systemd-dissect', [result.image]);
    assert.match(stdout, new RegExp(`ARCHITECTURE=${arch}`));
    const { stdout: listing } = await execa('unsquashfs', ['-l', result.image]);
    for (const path of [
      'usr/lib64/wasmedge/libwasmedgePluginWasiNN.so',
      'usr/lib/llamaedge/llama-api-server.wasm',
      'usr/bin/llama-api-server',
    ]) {
      assert.match(listing, new RegExp(`${path}$`, 'm'));
    }
  });
}

test('llamaedge without --wasmedge-version is a usage error, before any download', async () => {
  const ctx = upstream.context();
  await assert.rejects(
    createSysext(ctx, {
      name: 'llamaedge',
      version: STANDIN_VERSIONS_B.llamaedge!,
      arch: 'x86-64',
      outputDir: join(work, 'llamaedge-bare'),
    }),
    (error: unknown) =>
      error instanceof BakeError && error.kind === 'usage' && /--wasmedge-version/.test(error.message),
  );
  assert.equal(ctx.log.lines.filter((line) => line.includes(' GET ')).length, 0);
});

test('group B version lists: tags filtered and stripped as each recipe says, newest first', async () => {
  const ctx = upstream.context();
  assert.deepEqual(await listVersions(ctx, 'bird'), ['2.16', '2.15.1', '2.15', '1.6.8']);
  assert.deepEqual(await listVersions(ctx, 'chrony'), ['4.6.1', '4.6', '4.5']);
  assert.deepEqual(await latestVersions(ctx, 'scx'), ['v1.0.8']);
  assert.deepEqual(await listVersions(ctx, 'llamaedge'), ['0.14.16', '0.14.15']);
  // Branches before 3.0 and development releases are not listed.
  assert.deepEqual(await listVersions(ctx, 'haproxy'), ['3.0.7', '3.0.6']);
  assert.deepEqual(await listVersions(ctx, 'btop'), [STANDIN_VERSIONS_B.btop]);
  assert.deepEqual(await listVersions(ctx, 'tilde'), [STANDIN_VERSIONS_B.tilde]);
});
