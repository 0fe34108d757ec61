/**
 * bake as an ordinary user who has passwordless sudo (as CI machines used to be set up for bake): the
 * default bake never uses it (no loop device, no mount: USR is read and ROOT written offline), and the
 * result belongs to the user. The test creates the throw-away user and removes it; the same bake without
 * sudo at all is test/integration/rootless-bake.test.ts.
 */

import assert from 'node:assert/strict';
import { chmod, chown, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { isRootUser } from '../../bake/core/exec.ts';
import { assertNothingLeft, mountImage, workspace } from '../support/bake-cli.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror } from '../support/fixtures.ts';

const USER = 'bake-sudo-test';
const SUDOERS = `/etc/sudoers.d/${USER}`;
const CLI = resolve(import.meta.dirname, '../../bin/bake.js');

test('bake as a non-root user with sudo never uses it on the default path', {
  skip: !isRootUser() && 'needs root to create the test user',
}, async (t) => {
  await execa('userdel', ['--remove', USER], { reject: false });
  await execa('useradd', ['--create-home', '--shell', '/bin/sh', USER]);
  t.after(() => execa('userdel', ['--remove', USER], { reject: false }));
  await writeFile(SUDOERS, `${USER} ALL=(root) NOPASSWD: ALL\n`, { mode: 0o440 });
  t.after(() => rm(SUDOERS, { force: true }));
  const { stdout: uid } = await execa('id', ['-u', USER]);

  const fx = await withReleaseMirror(t, {
    releases: [{ version: '4593.2.5', channel: 'stable', arches: ['amd64'] }],
    bakery: [],
  });
  const ws = await workspace(t);
  await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
  for (const path of [ws.dir, ws.out, ws.tmp, join(ws.dir, 'hello.raw')]) await chown(path, Number(uid), Number(uid));
  await chmod(ws.dir, 0o755);

  const env = {
    ...fx.env,
    BAKE_CACHE_DIR: join(ws.dir, 'cache'),
    TMPDIR: ws.tmp,
    HOME: `/home/${USER}`,
    PATH: process.env.PATH ?? '',
  };
  const run = await execa(
    'runuser',
    ['-u', USER, '--', process.execPath, CLI, '--verbose', '--output', 'out', 'hello:hello.raw'],
    {
      cwd: ws.dir,
      env,
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      timeout: 180_000,
    },
  );
  assert.equal(run.exitCode, 0, String(run.stderr));
  assert.match(String(run.stderr), /^\+ debugfs -w -f /m, 'ROOT written offline, as the user');
  assert.match(String(run.stderr), /^\+ (perl -e '.*' )?lbzip2 -d/m, 'decompression as the user');
  assert.doesNotMatch(String(run.stderr), /\+ sudo |\+ (losetup|mount|umount) /, 'no sudo, loop device or mount');
  const output = join(ws.out, 'flatcar_production_image.bin');
  assert.equal((await stat(output)).uid, Number(uid), 'the result belongs to the user');
  await assertNothingLeft(ws, ['flatcar_production_image.bin']);
  const { root } = await mountImage(t, output);
  assert.ok((await readFile(join(root, 'opt/extensions/hello/hello.raw'))).length > 0);
  assert.equal((await stat(join(root, 'opt/extensions/hello/hello.raw'))).uid, 0, 'files in the image are root-owned');
});
