/**
 * The sysext side of bake without root (issue 21): `bake sysext pack` and `bake sysext lint` run as a
 * throw-away user with no sudo, so any step that needed a loop device, a mount or chown would fail.
 * The images they write must still be root-owned inside, whoever built them.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createContext } from '../../bake/context.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { isRootUser } from '../../bake/core/exec.ts';
import { lintSysext } from '../../bake/sysext/lint.ts';
import { standInElf } from '../support/fixtures/upstream-elf.ts';

const USER = 'bake-rootless-test';
const CLI = resolve(import.meta.dirname, '../../bin/bake.js');
const ROOTLESS_FORMATS = ['squashfs', 'erofs', 'ext4'] as const;

interface UserWorkspace {
  dir: string;
  uid: number;
  /** Runs the bake CLI as the throw-away user, in `dir`. */
  bake(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

/** A user without sudo and a workspace it owns; both go away after the test. */
async function throwAwayUser(t: TestContext): Promise<UserWorkspace> {
  await execa('userdel', ['--remove', USER], { reject: false });
  await execa('useradd', ['--create-home', '--shell', '/bin/sh', USER]);
  t.after(() => execa('userdel', ['--remove', USER], { reject: false }));
  const uid = Number((await execa('id', ['-u', USER])).stdout);
  const dir = await mkdtemp(join(tmpdir(), 'rootless-sysext-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'tmp'));
  for (const path of [dir, join(dir, 'tmp')]) await chown(path, uid, uid);
  await chmod(dir, 0o755);
  const env = { HOME: `/home/${USER}`, TMPDIR: join(dir, 'tmp'), PATH: process.env.PATH ?? '', BAKE_CACHE_DIR: join(dir, 'cache') };
  const bake = async (args: string[]) => {
    const run = await execa('runuser', ['-u', USER, '--', process.execPath, CLI, ...args, '--verbose'], {
      cwd: dir, env, extendEnv: false, reject: false, stdin: 'ignore', timeout: 120_000,
    });
    return { exitCode: run.exitCode ?? -1, stdout: String(run.stdout), stderr: String(run.stderr) };
  };
  return { dir, uid, bake };
}

/** A tree the user owns, as it would be on a build machine without root. */
async function userTree(ws: UserWorkspace): Promise<string> {
  const tree = join(ws.dir, 'tree');
  await mkdir(join(tree, 'usr/bin'), { recursive: true });
  await mkdir(join(tree, 'usr/lib/systemd/system'), { recursive: true });
  await writeFile(join(tree, 'usr/bin/hello'), standInElf('x86-64', 'hello'), { mode: 0o755 });
  await writeFile(join(tree, 'usr/lib/systemd/system/hello.service'), '[Service]\nExecStart=/usr/bin/hello\n');
  await execa('chown', ['-R', `${ws.uid}:${ws.uid}`, tree]);
  return tree;
}

const skip = !isRootUser() && 'needs root to create the test user';

test('bake sysext pack works without root for squashfs, erofs and ext4, and the images are root-owned', { skip }, async (t) => {
  const ws = await throwAwayUser(t);
  await userTree(ws);
  for (const format of ROOTLESS_FORMATS) {
    const run = await ws.bake(['sysext', 'pack', 'tree', 'hello', '--format', format, '--output-dir', format]);
    assert.equal(run.exitCode, 0, `${format}: ${run.stderr}`);
    assert.doesNotMatch(run.stderr, /\+ sudo /, `${format}: nothing through sudo`);
    // Linted here as root, reading the image's own ownership.
    const image = join(ws.dir, format, 'hello.raw');
    assert.deepEqual(await lintSysext(createContext({ log: memoryLogger() }), image, { arch: 'x86-64' }), [], format);
  }
});
