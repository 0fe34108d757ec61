/**
 * The sysext side of bake without root (issue 21): `bake sysext pack` and `bake sysext lint` run as a
 * throw-away user with no sudo, so any step that needed a loop device, a mount or chown would fail.
 * The images they write must still be root-owned inside, whoever built them. Once more inside an
 * unprivileged podman container (no --privileged, no devices, not root), with the checkout, its
 * node_modules and the host's /usr (node and the filesystem tools) mounted read-only.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type TestContext, test } from 'node:test';
import { execa } from 'execa';
import { createContext } from '../../bake/context.ts';
import { isRootUser } from '../../bake/core/exec.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { lintSysext } from '../../bake/sysext/lint.ts';
import { sparseFile } from '../support/fixtures/files.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { standInElf } from '../support/fixtures/upstream-elf.ts';
import {
  BAKE_CLI,
  type ThrowAwayUser,
  TSX_LOADER,
  throwAwayUser,
  type UserRun,
  unprivilegedContainer,
} from '../support/unprivileged.ts';

const USER = 'bake-rootless-test';
const INSPECT = resolve(import.meta.dirname, '../support/inspect-sysext.ts');
/** The formats bake builds without root; btrfs is built through a mount. */
const ROOTLESS_FORMATS = ['squashfs', 'erofs', 'ext4'] as const;
/** The formats bake reads without root: all of them (btrfs with bake's own reader). */
const READABLE_FORMATS = [...ROOTLESS_FORMATS, 'btrfs'] as const;
type ReadableFormat = (typeof READABLE_FORMATS)[number];
/** What needs root, as the runner logs it (`+ argv`): none of it may appear. */
const PRIVILEGED = /^\+ (sudo|losetup|mount|umount)\b/m;

interface UserWorkspace extends ThrowAwayUser {
  /** Runs bake's pre-bake inspection alone (see test/support/inspect-sysext.ts) as the user. */
  inspect(image: string, name: string): Promise<UserRun>;
}

async function userWorkspace(t: TestContext): Promise<UserWorkspace> {
  const user = await throwAwayUser(t, USER);
  return {
    ...user,
    inspect: (image, name) => user.node(['--import', TSX_LOADER, INSPECT, image, name, 'x86-64']),
  };
}

/** A tree the user owns, as it would be on a build machine without root. */
async function userTree(ws: UserWorkspace): Promise<string> {
  const tree = join(ws.dir, 'tree');
  await mkdir(join(tree, 'usr/bin'), { recursive: true });
  await mkdir(join(tree, 'usr/lib/systemd/system'), { recursive: true });
  await writeFile(join(tree, 'usr/bin/hello'), standInElf('x86-64', 'hello'), { mode: 0o755 });
  await writeFile(join(tree, 'usr/lib/systemd/system/hello.service'), '[Service]\nExecStart=/usr/bin/hello\n');
  await ws.give(tree);
  return tree;
}

const skip = !isRootUser() && 'needs root to create the test user';

test('bake sysext pack works without root for squashfs, erofs and ext4, and the images are root-owned', {
  skip,
}, async (t) => {
  const ws = await userWorkspace(t);
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

test('bake sysext pack --format btrfs without root or sudo is refused up front, before anything is built', {
  skip,
}, async (t) => {
  const ws = await userWorkspace(t);
  await userTree(ws);
  const run = await ws.bake(['sysext', 'pack', 'tree', 'hello', '--format', 'btrfs', '--output-dir', 'btrfs']);
  assert.equal(run.exitCode, 4, run.stderr);
  assert.match(run.stderr, /btrfs sysext images need root or passwordless sudo/);
  assert.match(run.stderr, /--format squashfs, erofs, ext4/, 'names the formats that work');
  assert.doesNotMatch(run.stderr, /^\+ (mksquashfs|mkfs\.btrfs) /m, 'nothing was built');
  assert.deepEqual(await readdir(join(ws.dir, 'btrfs')).catch(() => []), [], 'nothing was written');
});

/** An image of `tree` as the image tools make it by default: owners kept, links stored as they are. */
async function rawImage(tree: string, image: string, format: ReadableFormat): Promise<string> {
  const build: Record<typeof format, [string, string[]]> = {
    squashfs: ['mksquashfs', [tree, image, '-quiet', '-noappend']],
    erofs: ['mkfs.erofs', ['--quiet', image, tree]],
    ext4: ['mkfs.ext4', ['-q', '-F', '-d', tree, image, '8M']],
    btrfs: ['mkfs.btrfs', ['-q', '-f', '--rootdir', tree, '--shrink', image]],
  };
  const [tool, args] = build[format];
  // mkfs.btrfs formats a file that is there, at least its minimum size; --shrink trims it to the tree.
  if (format === 'btrfs') await sparseFile(image, 256 * 1024 * 1024);
  await execa(tool, args);
  await chmod(image, 0o644);
  return image;
}

/** An image whose usr/bin/hello-hello belongs to uid 4321. */
async function imageWithForeignOwner(dir: string, format: ReadableFormat): Promise<string> {
  const tree = join(dir, `${format}-tree`);
  await mkdir(join(tree, 'usr/lib/extension-release.d'), { recursive: true });
  await mkdir(join(tree, 'usr/bin'));
  await writeFile(join(tree, 'usr/lib/extension-release.d/extension-release.hello'), 'ID=_any\nARCHITECTURE=x86-64\n');
  await writeFile(join(tree, 'usr/bin/hello-hello'), '#!/bin/sh\n', { mode: 0o755 });
  await chown(join(tree, 'usr/bin/hello-hello'), 4321, 4321);
  return rawImage(tree, join(dir, `${format}-owned.raw`), format);
}

test('bake sysext lint and the pre-bake inspection read squashfs, erofs, ext4 and btrfs images without root', {
  skip,
}, async (t) => {
  const ws = await userWorkspace(t);
  await writeFile(join(ws.dir, 'junk.raw'), randomBytes(128 * 1024));
  for (const format of READABLE_FORMATS) {
    const good = await makeSysextImage(join(ws.dir, `${format}/hello.raw`), { name: 'hello', arch: 'x86-64', format });
    const lint = await ws.bake(['sysext', 'lint', good.path]);
    assert.equal(lint.exitCode, 0, `${format}: ${lint.stderr}`);
    assert.doesNotMatch(lint.stderr, PRIVILEGED, `${format}: no sudo, loop device or mount`);
    const inspected = await ws.inspect(good.path, 'hello');
    assert.equal(inspected.exitCode, 0, `${format}: ${inspected.stderr}`);
    assert.equal(inspected.stdout.trim(), format);

    const misnamed = await ws.inspect(good.path, 'other');
    assert.equal(misnamed.exitCode, 3, `${format}: ${misnamed.stderr}`);
    assert.match(misnamed.stderr, /is not a sysext named 'other': it carries extension-release\.hello/);

    // The extracted copy is the user's; the owner comes from the image itself.
    const owned = await ws.bake(['sysext', 'lint', await imageWithForeignOwner(ws.dir, format), '--name', 'hello']);
    assert.equal(owned.exitCode, 3, `${format}: ${owned.stderr}`);
    assert.equal(owned.stdout, 'usr/bin/hello-hello: owned by uid 4321, not root [owner]', format);
  }
  // Junk gets one verdict from both.
  const junkLint = await ws.bake(['sysext', 'lint', 'junk.raw']);
  const junkInspect = await ws.inspect(join(ws.dir, 'junk.raw'), 'junk');
  for (const run of [junkLint, junkInspect]) {
    assert.equal(run.exitCode, 3, run.stderr);
    assert.match(
      run.stderr,
      /junk\.raw is not a sysext image: expected a squashfs, erofs, ext4 or btrfs filesystem image/,
    );
  }
  const left = (await readdir(join(ws.dir, 'tmp'))).filter((name) => name.startsWith('bake-'));
  assert.deepEqual(left, [], 'no extracted copy left behind');
});

test('pack, lint and the pre-bake inspection (btrfs: lint and inspection) work in an unprivileged podman container', {
  skip,
}, async (t) => {
  const container = await unprivilegedContainer(t);
  const ws = await mkdtemp(join(tmpdir(), 'rootless-podman-'));
  t.after(() => rm(ws, { recursive: true, force: true }));
  await mkdir(join(ws, 'tree/usr/bin'), { recursive: true });
  await writeFile(join(ws, 'tree/usr/bin/hello'), standInElf('x86-64', 'hello'), { mode: 0o755 });
  // btrfs is built out here (that needs root) and only read inside.
  await makeSysextImage(join(ws, 'btrfs/hello.raw'), { name: 'hello', arch: 'x86-64', format: 'btrfs' });
  const read = (format: ReadableFormat) => [
    `node ${BAKE_CLI} sysext lint ${format}/hello.raw`,
    `node --import ${TSX_LOADER} ${INSPECT} ${format}/hello.raw hello x86-64`,
  ];
  const script = [
    ...ROOTLESS_FORMATS.flatMap((format) => [
      `node ${BAKE_CLI} sysext pack tree hello --format ${format} --output-dir ${format}`,
      ...read(format),
    ]),
    ...read('btrfs'),
  ].join(' && ');
  const run = await container.run(ws, script);
  assert.equal(run.exitCode, 0, run.stderr);
  for (const format of READABLE_FORMATS) {
    assert.match(run.stdout, new RegExp(`^${format}/hello\\.raw: ok$`, 'm'), `${format} linted clean inside`);
    assert.match(run.stdout, new RegExp(`^${format}$`, 'm'), `${format} inspected inside`);
    const image = join(ws, format, 'hello.raw');
    assert.deepEqual(
      await lintSysext(createContext({ log: memoryLogger() }), image, { arch: 'x86-64' }),
      [],
      `${format} root-owned inside`,
    );
  }
});

test('read without root, an extension-release that links to a host file is refused, never read from the host', {
  skip,
}, async (t) => {
  const ws = await userWorkspace(t);
  // A valid release the user can read: followed on the host, it would pass.
  const hostFile = join(ws.dir, 'host-release');
  await writeFile(hostFile, 'ID=_any\nARCHITECTURE=x86-64\n', { mode: 0o644 });
  const tree = join(ws.dir, 'hostile-tree');
  await mkdir(join(tree, 'usr/lib/extension-release.d'), { recursive: true });
  await execa('ln', ['-s', hostFile, join(tree, 'usr/lib/extension-release.d/extension-release.hello')]);
  for (const format of READABLE_FORMATS) {
    const image = await rawImage(tree, join(ws.dir, `${format}-hostile.raw`), format);
    const inspected = await ws.inspect(image, 'hello');
    assert.equal(inspected.exitCode, 3, `${format}: ${inspected.stderr}`);
    assert.match(inspected.stderr, /extension-release\.hello cannot be read inside the image/, format);
    const lint = await ws.bake(['sysext', 'lint', image, '--name', 'hello']);
    assert.equal(lint.exitCode, 3, `${format}: ${lint.stderr}`);
    assert.match(lint.stdout, /extension-release file cannot be read inside the image/, format);
  }
});
