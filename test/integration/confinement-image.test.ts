/**
 * Issue 20 item 2: symlinks inside the base image. A release whose ROOT or OEM links the install
 * directories somewhere else is resolved inside that partition, as the booted system would, and never
 * on the host. Each case runs the real CLI as root against a release built with those links, and checks
 * that a canary on the host is untouched and that bake left nothing behind.
 */

import assert from 'node:assert/strict';
import { mkdir, readFile, readlink, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { createContext } from '../../bake/context.ts';
import { CleanupStack } from '../../bake/core/cleanup.ts';
import { isRootUser } from '../../bake/core/exec.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { writeOemPartition } from '../../bake/vendor/oem.ts';
import { OEMS } from '../../vendors/oems.ts';
import { assertNothingLeft, assertOneLineError, mountImage, runBake, workspace } from '../support/bake-cli.ts';
import { type Canary, hostCanary } from '../support/canary.ts';
import type { ReleaseSpec } from '../support/fixtures/release-tree.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { type CleanupHost, withFlatcarDisk, withReleaseMirror, withTempDir } from '../support/fixtures.ts';

const IMAGE = 'flatcar_production_image.bin';

/** A partition tree holding only `links` (path → target), plus the directories they sit in. */
async function treeWithLinks(t: CleanupHost, links: Record<string, string>): Promise<string> {
  const dir = await withTempDir(t, 'bake-tree');
  for (const [path, target] of Object.entries(links)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await symlink(target, join(dir, path));
  }
  return dir;
}

test('links inside the base image are resolved inside their partition', {
  skip: !isRootUser() && 'needs root (loop devices, mounts)',
}, async (t) => {
  const canaries: Record<string, Canary> = {};
  for (const name of ['rootAbsolute', 'oemAbsolute', 'rootRelative']) canaries[name] = await hostCanary(t);
  const release = (patch: number, disk: ReleaseSpec['disk']): ReleaseSpec => ({
    version: `4593.2.${patch}`,
    channel: 'stable',
    arches: ['amd64'],
    disk: { version: `4593.2.${patch}`, ...disk },
  });
  const fx = await withReleaseMirror(t, {
    bakery: [],
    releases: [
      release(5, { rootTree: await treeWithLinks(t, { 'opt/extensions': canaries.rootAbsolute!.dir }) }),
      release(6, { oemTree: await treeWithLinks(t, { extensions: canaries.oemAbsolute!.dir }) }),
      release(7, {
        rootTree: await treeWithLinks(t, { 'etc/extensions': `../../../../../../../..${canaries.rootRelative!.dir}` }),
      }),
      release(8, { rootTree: await treeWithLinks(t, { 'opt/extensions': '/oem/elsewhere' }) }),
    ],
  });
  const bake = async (t: TestContext, version: string, extra: string[] = []) => {
    const ws = await workspace(t, fx.env);
    const sysext = await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    const run = await runBake(ws, ['--release', version, ...extra, '--output', 'out', 'hello:hello.raw']);
    return { ws, run, sysext };
  };

  await t.test('ROOT /opt/extensions -> an absolute path: written there inside ROOT, never on the host', async (t) => {
    const canary = canaries.rootAbsolute!;
    const { ws, run, sysext } = await bake(t, '4593.2.5');
    assert.equal(run.exitCode, 0, run.stderr);
    await canary.assertUntouched();
    await assertNothingLeft(ws, [IMAGE]);
    const { root } = await mountImage(t, join(ws.out, IMAGE));
    assert.ok(
      (await readFile(join(root, canary.dir, 'hello/hello.raw'))).equals(await readFile(sysext.path)),
      'the image sits where the link leads, inside ROOT',
    );
    assert.equal(await readlink(join(root, 'opt/extensions')), canary.dir, 'the base image link is kept');
    assert.equal(await readlink(join(root, 'etc/extensions/hello.raw')), '/opt/extensions/hello/hello.raw');
  });

  await t.test('OEM /extensions -> an absolute path: written there inside OEM, never on the host', async (t) => {
    const canary = canaries.oemAbsolute!;
    const { ws, run } = await bake(t, '4593.2.6', ['--install_to', 'oem:/extensions']);
    assert.equal(run.exitCode, 0, run.stderr);
    await canary.assertUntouched();
    await assertNothingLeft(ws, [IMAGE]);
    const { oem } = await mountImage(t, join(ws.out, IMAGE));
    assert.ok((await stat(join(oem, canary.dir, 'hello/hello.raw'))).isFile());
  });

  await t.test(
    'ROOT /etc/extensions -> ../../..: the link lands inside ROOT, never beside the host canary',
    async (t) => {
      const canary = canaries.rootRelative!;
      const { ws, run } = await bake(t, '4593.2.7');
      assert.equal(run.exitCode, 0, run.stderr);
      await canary.assertUntouched();
      await assertNothingLeft(ws, [IMAGE]);
      const { root } = await mountImage(t, join(ws.out, IMAGE));
      assert.equal(await readlink(join(root, canary.dir, 'hello.raw')), '/opt/extensions/hello/hello.raw');
    },
  );

  await t.test('ROOT /opt/extensions -> /oem/...: refused, not followed across partitions', async (t) => {
    const { ws, run } = await bake(t, '4593.2.8');
    assertOneLineError(
      run,
      /ROOT:\/opt\/extensions\/hello cannot be resolved inside ROOT: it leads to \/oem, where another partition is mounted/,
    );
    assert.equal(run.exitCode, 3);
    await assertNothingLeft(ws);
  });
});

test('the native vendor route writes OEM files inside OEM, through the links the base image has there', {
  skip: !isRootUser() && 'needs root (loop devices, mounts)',
}, async (t) => {
  const [files, dir] = [await hostCanary(t), await hostCanary(t)];
  const oemTree = await treeWithLinks(t, {
    'grub.cfg': files.victim,
    'oem-release': `../../../../../../..${files.victim}`,
    sysext: dir.dir,
  });
  const disk = await withFlatcarDisk(t, { oemTree });
  const oemRaw = join(await withTempDir(t, 'bake-oem-raw'), 'oem-qemu.raw');
  await makeSysextImage(oemRaw, { name: 'oem-qemu', arch: 'x86-64' });
  const ctx = createContext({ log: memoryLogger(), cacheDir: await withTempDir(t, 'bake-cache') });
  {
    await using stack = new CleanupStack(ctx.log);
    await writeOemPartition(ctx, stack, disk.path, { spec: OEMS.qemu, sysext: true }, '4790.0.0', {
      path: oemRaw,
      extensionRelease: [],
    });
  }
  await files.assertUntouched();
  await dir.assertUntouched();
  const { oem } = await mountImage(t, disk.path);
  assert.match(await readFile(join(oem, 'grub.cfg'), 'utf8'), /oem_id="qemu"/, 'the link was replaced by the file');
  assert.match(await readFile(join(oem, 'oem-release'), 'utf8'), /^ID=qemu$/m);
  assert.ok(
    (await stat(join(oem, dir.dir, 'oem-qemu-4790.0.0.raw'))).isFile(),
    'the sysext sits where OEM /sysext leads, inside OEM',
  );
});
