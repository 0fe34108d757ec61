/**
 * Issue 20 item 4: a mirror that serves another release (an older one, or another board's) under a
 * release's name, every file with its own good signature and DIGESTS. bake reads USR's os-release from
 * the decompressed image (offline) and refuses the mix (exit 6) before anything is published or cached.
 */

import assert from 'node:assert/strict';
import { access, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { assertNothingLeft, assertOneLineError, runBake, type Workspace, workspace } from '../support/bake-cli.ts';
import { signDetached } from '../support/fixtures/gpg.ts';
import { versionTxt } from '../support/fixtures/release-tree.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror } from '../support/fixtures.ts';
import { entriesOf, withCanary } from '../support/host-canary.ts';

const IMAGE = 'flatcar_production_image.bin.bz2';
const SERVED_WITH_IMAGE = [IMAGE, `${IMAGE}.sig`, `${IMAGE}.DIGESTS`, `${IMAGE}.DIGESTS.sig`];
const CACHED_IMAGE = (cache: string, board: string, version: string) =>
  join(cache, 'releases/stable', board, version, 'flatcar_production_image.bin');
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

test('release mix-and-match is refused', async (t) => {
  const fx = await withReleaseMirror(t, {
    releases: [
      { version: '4593.2.5', channel: 'stable', arches: ['amd64', 'arm64'] },
      // An absolute link: followed on the host it would find the host's own /usr/share/…, or nothing.
      {
        version: '4593.2.10',
        channel: 'stable',
        arches: ['amd64'],
        disk: { osReleaseLink: { target: '/usr/share/flatcar/os-release', at: 'share/flatcar/os-release' } },
      },
      {
        version: '4593.2.11',
        channel: 'stable',
        arches: ['amd64'],
        disk: { osReleaseLink: { target: '../../../etc/os-release' } },
      },
      {
        version: '3510.2.8',
        channel: 'stable',
        arches: ['amd64'],
        disk: {
          usrFilesystem: 'ext2',
          osReleaseLink: { target: '../share/flatcar/os-release', at: 'share/flatcar/os-release' },
        },
      },
      {
        version: '3510.2.9',
        channel: 'stable',
        arches: ['amd64'],
        disk: { usrFilesystem: 'ext2', version: '3510.2.8' },
      },
    ],
    bakery: [],
  });
  /** One bake in a fresh workspace with its own cache; checks what every case must leave behind. */
  const bakeIn = async (t: TestContext, args: string[], env: Record<string, string> = {}) => {
    const canary = await withCanary(t);
    const ws: Workspace = await workspace(t, { ...fx.env, BAKE_HTTP_RETRIES: '1', ...env });
    ws.env.BAKE_CACHE_DIR = join(ws.dir, 'cache');
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    const before = await entriesOf(ws.dir);
    const run = await runBake(ws, ['--output', 'out', ...args, 'hello:hello.raw']);
    assert.deepEqual(
      (await entriesOf(ws.dir)).filter((name) => name !== 'cache'),
      before,
      'nothing created beside the work and output folders',
    );
    await canary.assertUntouched();
    return { run, ws, cache: ws.env.BAKE_CACHE_DIR };
  };

  await t.test('the right release passes, with os-release a symlink inside USR', async (t) => {
    const { run, ws, cache } = await bakeIn(t, ['--release', '4593.2.10']);
    assert.equal(run.exitCode, 0, run.stderr);
    await assertNothingLeft(ws, ['flatcar_production_image.bin']);
    assert.ok(await exists(CACHED_IMAGE(cache, 'amd64-usr', '4593.2.10')), 'the checked image is kept in the cache');
  });

  await t.test(
    'an ext2 USR (releases before 3794) is read with debugfs, its os-release link followed inside USR',
    async (t) => {
      const { run, ws } = await bakeIn(t, ['--release', '3510.2.8']);
      assert.equal(run.exitCode, 0, run.stderr);
      await assertNothingLeft(ws, ['flatcar_production_image.bin']);
    },
  );

  await t.test('an ext2 USR of another release is refused', async (t) => {
    const { run, ws } = await bakeIn(t, ['--release', '3510.2.9']);
    assertOneLineError(run, /the image served as amd64-usr 3510\.2\.9 says VERSION_ID=3510\.2\.8/);
    assert.equal(run.exitCode, 6);
    await assertNothingLeft(ws);
  });

  await t.test("an older release served under a newer release's name is refused", async (t) => {
    const served = join(fx.manifest.root, 'stable/amd64-usr/4593.2.6');
    await mkdir(served, { recursive: true });
    for (const file of SERVED_WITH_IMAGE)
      await copyFile(join(fx.manifest.root, 'stable/amd64-usr/4593.2.5', file), join(served, file));
    await writeFile(join(served, 'version.txt'), versionTxt('4593.2.6'));
    await signDetached(fx.key, join(served, 'version.txt'));
    const { run, ws, cache } = await bakeIn(t, ['--release', '4593.2.6']);
    assertOneLineError(
      run,
      /the image served as amd64-usr 4593\.2\.6 says VERSION_ID=4593\.2\.5 in \/usr\/lib\/os-release: the mirror serves another release/,
    );
    assert.equal(run.exitCode, 6);
    await assertNothingLeft(ws);
    assert.equal(
      await exists(CACHED_IMAGE(cache, 'amd64-usr', '4593.2.6')),
      false,
      'not kept as the verified base image',
    );
    assert.equal(
      await exists(join(cache, 'releases/stable/amd64-usr/4593.2.6', IMAGE)),
      false,
      'its bz2 left the cache',
    );
  });

  await t.test("another board's image of the same release is refused", async (t) => {
    const { run, ws, cache } = await bakeIn(t, ['--release', '4593.2.5'], {
      BAKE_RELEASE_URL: `${fx.mirror.url}/{channel}/arm64-usr/{version}`,
    });
    assertOneLineError(run, /the image served as amd64-usr 4593\.2\.5 says FLATCAR_BOARD=arm64-usr/);
    assert.equal(run.exitCode, 6);
    await assertNothingLeft(ws);
    assert.equal(await exists(CACHED_IMAGE(cache, 'amd64-usr', '4593.2.5')), false);
  });

  await t.test('an os-release symlink that leads out of USR is refused, not followed on the host', async (t) => {
    const { run, ws } = await bakeIn(t, ['--release', '4593.2.11']);
    assertOneLineError(run, /the image's \/usr\/lib\/os-release leads out of \/usr/);
    assert.equal(run.exitCode, 6);
    await assertNothingLeft(ws);
  });
});
