/**
 * Issue 20 item 8: failures that must be clean. A symlink at the output path is an existing output,
 * found before any work (exit 8) and never followed; a cache too full for the base image's copy costs a
 * warning, not the bake; a user without root or passwordless sudo who asks for the SDK vendor route (the
 * one step that still needs root) is told so before any download.
 */

import assert from 'node:assert/strict';
import { chmod, chown, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { isRootUser } from '../../bake/core/exec.ts';
import { assertNothingLeft, assertOneLineError, runBake, workspace } from '../support/bake-cli.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror, withTempDir } from '../support/fixtures.ts';
import { entriesOf, withCanary } from '../support/host-canary.ts';

const OUTPUT = 'flatcar_production_image.bin';
const USER = 'bake-nosudo-test';
const CLI = resolve(import.meta.dirname, '../../bin/bake.js');

test('failures that must be clean', {
  skip: !isRootUser() && 'needs root (loop devices, tmpfs, a test user)',
}, async (t) => {
  // 4 MiB that compress to almost nothing: the decompressed image needs more room than its download.
  const usrTree = await withTempDir(t);
  await mkdir(join(usrTree, 'share'));
  await writeFile(join(usrTree, 'share/filler'), Buffer.alloc(4 * 1024 * 1024, 'bake'));
  const disk = { usrTree };
  const fx = await withReleaseMirror(t, {
    releases: [{ version: '4593.2.5', channel: 'stable', arches: ['amd64'], disk }],
    bakery: [],
  });
  const fresh = async (t: Parameters<typeof workspace>[0]) => {
    const ws = await workspace(t, { ...fx.env });
    ws.env.BAKE_CACHE_DIR = join(ws.dir, 'cache');
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    return ws;
  };

  await t.test('a dangling symlink at the output is an existing output, refused before any work', async (t) => {
    const canary = await withCanary(t);
    const ws = await fresh(t);
    await symlink(join(canary.dir, 'planted'), join(ws.out, OUTPUT));
    const before = { entries: await entriesOf(ws.dir), requests: fx.mirror.requests.length };
    const run = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
    assertOneLineError(run, /flatcar_production_image\.bin already exists: pass --force/);
    assert.equal(run.exitCode, 8);
    assert.equal(fx.mirror.requests.length, before.requests, 'nothing was downloaded');
    assert.deepEqual(await entriesOf(ws.dir), before.entries, 'nothing created (not even the cache)');
    await assertNothingLeft(ws, [OUTPUT]);
    await canary.assertUntouched();
  });

  await t.test('a cache too full for the base image costs a warning, not the bake', async (t) => {
    const canary = await withCanary(t);
    const ws = await fresh(t);
    const cache = ws.env.BAKE_CACHE_DIR!;
    await mkdir(cache);
    // Room for the downloads (a few hundred KiB), not for the decompressed image's data (over 4 MiB).
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'bake-test-cache', cache]);
    t.after(() => execa('umount', [cache], { reject: false }));
    const before = await entriesOf(ws.dir);
    const run = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(
      run.stderr,
      /could not keep a copy of the base image in the cache \(.*\); the next bake decompresses it again/,
    );
    const release = join(cache, 'releases/stable/amd64-usr/4593.2.5');
    const copies = [OUTPUT, `${OUTPUT}.partial`, `${OUTPUT}.complete`];
    assert.deepEqual(
      (await readdir(release)).filter((name) => copies.includes(name)),
      [],
      'no copy, partial copy or marker left in the cache',
    );
    await execa('umount', [cache]); // the test's mount, not bake's (assertNothingLeft looks for mounts)
    await assertNothingLeft(ws, [OUTPUT]);
    assert.deepEqual(await entriesOf(ws.dir), before);
    await canary.assertUntouched();
  });

  await t.test(
    'a user without root or passwordless sudo who asks for the SDK route is told so before any download',
    async (t) => {
      await execa('userdel', ['--remove', USER], { reject: false });
      await execa('useradd', ['--create-home', '--shell', '/bin/sh', USER]);
      t.after(() => execa('userdel', ['--remove', USER], { reject: false }));
      const { stdout: uid } = await execa('id', ['-u', USER]);
      const canary = await withCanary(t);
      const ws = await fresh(t);
      for (const path of [ws.dir, ws.out, ws.tmp, join(ws.dir, 'hello.raw')])
        await chown(path, Number(uid), Number(uid));
      await chmod(ws.dir, 0o755);
      const before = { entries: await entriesOf(ws.dir), requests: fx.mirror.requests.length };
      const env = { ...ws.env, HOME: `/home/${USER}`, PATH: process.env.PATH ?? '' };
      const result = await execa(
        'runuser',
        [
          '-u',
          USER,
          '--',
          process.execPath,
          CLI,
          '--output',
          'out',
          '--vendor',
          'qemu_uefi',
          '--vendor-route',
          'sdk',
          'hello:hello.raw',
        ],
        {
          cwd: ws.dir,
          env,
          extendEnv: false,
          reject: false,
          stdin: 'ignore',
          timeout: 180_000,
        },
      );
      const run = { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
      assertOneLineError(
        run,
        /the SDK vendor route \(qemu_uefi\) needs root or passwordless sudo \(sudo said: .*\): run bake as root, or allow this user passwordless sudo/,
      );
      assert.equal(run.exitCode, 4);
      assert.equal(fx.mirror.requests.length, before.requests, 'nothing was downloaded');
      assert.deepEqual(await entriesOf(ws.dir), before.entries, 'nothing created (not even the cache)');
      await assertNothingLeft(ws);
      await canary.assertUntouched();
    },
  );
});
