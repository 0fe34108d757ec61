/**
 * What the offline btrfs reader gives a sysext extraction (issue 21): each inode's permission bits and
 * owner, and a walk of every entry below a folder with its bytes, read from an image file that starts
 * at offset 0 as a sysext's does, made the way `bake sysext create --format btrfs` makes one (mkfs.btrfs
 * --rootdir --shrink, DUP metadata), and the copy sysext/extract.ts makes of it with them. Then hostile
 * inodes and names: every refusal is a verify error from the reader, an input error from the extraction.
 */
import assert from 'node:assert/strict';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createContext } from '../../bake/context.ts';
import { tempDir } from '../../bake/core/cleanup.ts';
import { type BakeError, isBakeError, verifyError } from '../../bake/core/errors.ts';
import { isRootUser } from '../../bake/core/exec.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { checksum, DIR_ENTRY, HEADER, ITEM_TYPE, KEY, leafItems, SUPER } from '../../bake/image/btrfs-format.ts';
import { type BtrfsReader, type BtrfsTreeEntry, openBtrfs } from '../../bake/image/btrfs-read.ts';
import { imageOwners, withExtractedImage } from '../../bake/sysext/extract.ts';
import { lintSysext } from '../../bake/sysext/lint.ts';
import { sparseFile } from '../support/fixtures/files.ts';
import { fixtureRunner } from '../support/fixtures/run.ts';

const MIB = 1024 * 1024;
const SUPERBLOCK = 0x1_0000;
const INODE_SIZE = 16;
const INODE_UID = 44;
const INODE_MODE = 52;
/** A uid no file of the host or the fixture has, so its inode item is found by it. */
const MARKED_UID = 4321;
const fail = (problem: string) => verifyError(`the sysext ${problem}`, 'test');
const run = fixtureRunner();
const isVerify = (error: unknown) => isBakeError(error) && (error as BakeError).kind === 'verify';
const isInput = (error: unknown) => isBakeError(error) && (error as BakeError).kind === 'input';
const context = () => createContext({ log: memoryLogger() });
const skip = !isRootUser() && 'needs root to give files other owners';

/** Files, folders and links with modes and owners of their own; `usr/bin/tool` marked by its uid. */
async function writeTree(root: string): Promise<void> {
  await mkdir(join(root, 'usr/lib/extension-release.d'), { recursive: true });
  await mkdir(join(root, 'usr/bin'));
  await mkdir(join(root, 'usr/share/private'), { recursive: true });
  await writeFile(join(root, 'usr/lib/extension-release.d/extension-release.hello'), 'ID=_any\n');
  await writeFile(join(root, 'usr/bin/tool'), '#!/bin/sh\n');
  // chown clears set-user-ID, so it goes first.
  await chown(join(root, 'usr/bin/tool'), MARKED_UID, 99);
  await chmod(join(root, 'usr/bin/tool'), 0o4750);
  await chmod(join(root, 'usr/share/private'), 0o700);
  await chown(join(root, 'usr/share/private'), 1000, 1000);
  // Several MiB that differ on every line: regular extents, read in pieces.
  const big = Array.from({ length: 300_000 }, (_, index) => `big line ${index}\n`).join('');
  await writeFile(join(root, 'usr/share/big'), big);
  await symlink('../lib/extension-release.d', join(root, 'usr/share/release'));
  await symlink('/etc/passwd', join(root, 'usr/share/out'));
  await run.run('mkfifo', [join(root, 'usr/share/fifo')]);
}

async function sysextImage(dir: string): Promise<{ tree: string; image: string }> {
  const tree = join(dir, 'tree');
  await writeTree(tree);
  const image = join(dir, 'hello.raw');
  await sparseFile(image, 256 * MIB);
  await run.run('mkfs.btrfs', ['-q', '-f', '--rootdir', tree, '--shrink', image]);
  return { tree, image };
}

async function withReader<T>(image: string, use: (reader: BtrfsReader) => Promise<T>): Promise<T> {
  await using scratch = await tempDir('btrfs-walk-test');
  const file = await open(image, 'r');
  try {
    const { size } = await file.stat();
    return await use(await openBtrfs({ file, offset: 0, size, fail, run, scratch: scratch.path }));
  } finally {
    await file.close();
  }
}

/** Every entry below `folder`, with each file's bytes laid out as `walk` streams them. */
async function walked(reader: BtrfsReader, folder: string): Promise<Array<BtrfsTreeEntry & { bytes?: Buffer }>> {
  const found: Array<BtrfsTreeEntry & { bytes?: Buffer }> = [];
  await reader.walk(folder, async (entry, copy) => {
    if (entry.kind !== 'file') return void found.push(entry);
    const bytes = Buffer.alloc(entry.size);
    await copy(async (piece, position) => {
      assert.ok(position + piece.length <= entry.size, 'nothing is written past the end of the file');
      piece.copy(bytes, position);
    });
    found.push({ ...entry, bytes });
  });
  return found;
}

test('stat gives each inode its permission bits and owner', { skip }, async () => {
  await using dir = await tempDir('btrfs-walk');
  const { image } = await sysextImage(dir.path);
  await withReader(image, async (reader) => {
    assert.deepEqual(await reader.stat('/usr/bin/tool'), {
      kind: 'file',
      mode: 0o4750,
      uid: MARKED_UID,
      gid: 99,
      size: 10,
    });
    assert.deepEqual(await reader.stat('/usr/share/private'), {
      kind: 'dir',
      mode: 0o700,
      uid: 1000,
      gid: 1000,
      size: 0,
    });
    const link = await reader.stat('/usr/share/out');
    assert.deepEqual([link?.kind, link?.uid, link?.size], ['link', 0, '/etc/passwd'.length]);
    assert.equal((await reader.stat('/usr/share/fifo'))?.kind, 'other');
    assert.equal(await reader.stat('/usr/missing'), undefined);
  });
});

test('walk lists every entry below a folder, parents first, links unfollowed, files streamed whole', {
  skip,
}, async () => {
  await using dir = await tempDir('btrfs-walk');
  const { tree, image } = await sysextImage(dir.path);
  await withReader(image, async (reader) => {
    const all = await walked(reader, '');
    const paths = all.map((entry) => entry.path);
    for (const [index, path] of paths.entries()) {
      const parent = path.split('/').slice(0, -1).join('/');
      if (parent) assert.ok(paths.indexOf(parent) < index, `${parent} comes before ${path}`);
    }
    assert.deepEqual(
      new Set(paths),
      new Set([
        'usr',
        'usr/lib',
        'usr/lib/extension-release.d',
        'usr/lib/extension-release.d/extension-release.hello',
        'usr/bin',
        'usr/bin/tool',
        'usr/share',
        'usr/share/private',
        'usr/share/big',
        'usr/share/release',
        'usr/share/out',
        'usr/share/fifo',
      ]),
    );
    const byPath = new Map(all.map((entry) => [entry.path, entry]));
    assert.equal(byPath.get('usr/share/out')?.target, '/etc/passwd');
    assert.equal(byPath.get('usr/share/release')?.target, '../lib/extension-release.d');
    assert.equal(byPath.get('usr/share/fifo')?.kind, 'other');
    assert.deepEqual([byPath.get('usr/bin/tool')?.mode, byPath.get('usr/bin/tool')?.uid], [0o4750, MARKED_UID]);
    const big = byPath.get('usr/share/big');
    assert.ok((await stat(join(tree, 'usr/share/big'))).size > 2 * MIB, 'more than one read piece');
    assert.ok(big?.bytes?.equals(await readFile(join(tree, 'usr/share/big'))), 'the big file, byte for byte');

    const release = await walked(reader, 'usr/lib/extension-release.d');
    assert.deepEqual(
      release.map((entry) => [entry.path, entry.bytes?.toString()]),
      [['usr/lib/extension-release.d/extension-release.hello', 'ID=_any\n']],
    );
    assert.deepEqual(await walked(reader, 'usr/missing'), [], 'a folder the image lacks has nothing');
    assert.deepEqual(await walked(reader, 'usr/share/release'), [], 'a link to a folder is not followed');
  });
});

test('an inode with bits above its mode, or owned by uid 4294967295, is refused', { skip }, async () => {
  await using dir = await tempDir('btrfs-walk');
  const { image } = await sysextImage(dir.path);
  const cases: Array<[string, (data: Buffer) => void]> = [
    ['mode', (data) => data.writeUInt32LE(data.readUInt32LE(INODE_MODE) | 0x1_0000, INODE_MODE)],
    ['uid', (data) => data.writeUInt32LE(0xffff_ffff, INODE_UID)],
  ];
  for (const [field, change] of cases) {
    const hostile = join(dir.path, `${field}.raw`);
    await run.run('cp', ['--sparse=always', image, hostile]);
    assert.ok(
      (await rewriteItems(hostile, ITEM_TYPE.inode, (data) => data.readUInt32LE(INODE_UID) === MARKED_UID, change)) > 0,
    );
    await withReader(hostile, async (reader) => {
      await assert.rejects(reader.stat('/usr/bin/tool'), isVerify, field);
      await assert.rejects(
        reader.walk('', async () => {}),
        isVerify,
        field,
      );
      assert.equal((await reader.stat('/usr/bin'))?.kind, 'dir', 'the rest still reads');
    });
  }
});

test('extraction copies files, folders and links without following any, and takes owners from the inodes', {
  skip,
}, async () => {
  await using dir = await tempDir('btrfs-walk');
  const { tree, image } = await sysextImage(dir.path);
  await withExtractedImage(context(), image, 'btrfs', '', async (copy) => {
    assert.ok((await readFile(join(copy, 'usr/share/big'))).equals(await readFile(join(tree, 'usr/share/big'))));
    assert.equal(await readlink(join(copy, 'usr/share/out')), '/etc/passwd');
    assert.equal(await readlink(join(copy, 'usr/share/release')), '../lib/extension-release.d');
    assert.ok((await lstat(join(copy, 'usr/share/private'))).isDirectory());
    assert.equal((await stat(join(copy, 'usr/bin/tool'))).mode & 0o7777, 0o750, 'no set-ID bit reaches the host');
    assert.deepEqual((await readdir(join(copy, 'usr/share'))).sort(), ['big', 'out', 'private', 'release']);
    const owners = await imageOwners(context(), image, 'btrfs', copy);
    assert.equal(owners.get('usr/bin/tool'), MARKED_UID);
    assert.equal(owners.get('usr/share/private'), 1000);
    assert.equal(owners.get('usr/share/big'), 0);
  });
  await withExtractedImage(context(), image, 'btrfs', 'usr/lib/extension-release.d', async (copy) => {
    assert.deepEqual(await readdir(join(copy, 'usr/lib/extension-release.d')), ['extension-release.hello']);
    assert.deepEqual(await readdir(join(copy, 'usr')), ['lib'], 'only the folder asked for');
  });
});

test('a file claiming more bytes than any host file can hold is refused as the fault of the image', {
  skip,
}, async () => {
  await using dir = await tempDir('btrfs-walk');
  const { image } = await sysextImage(dir.path);
  // 1 PiB: a safe integer, beyond the 16 TiB an ext4 file can have.
  const claimed = (data: Buffer) => data.writeBigUInt64LE(2n ** 50n, INODE_SIZE);
  assert.ok(
    (await rewriteItems(image, ITEM_TYPE.inode, (data) => data.readUInt32LE(INODE_UID) === MARKED_UID, claimed)) > 0,
  );
  await assert.rejects(
    withExtractedImage(context(), image, 'btrfs', '', async () => {}),
    isInput,
  );
});

test('a walk refuses an entry named .. rather than writing it anywhere', { skip }, async () => {
  await using dir = await tempDir('btrfs-walk');
  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'usr'), { recursive: true });
  await writeFile(join(tree, 'usr/xx'), 'escape\n');
  const image = join(dir.path, 'dotdot.raw');
  await sparseFile(image, 256 * MIB);
  await run.run('mkfs.btrfs', ['-q', '-f', '--rootdir', tree, '--shrink', image]);
  const named = (data: Buffer) => data.subarray(DIR_ENTRY.size).toString() === 'xx';
  const renamed = await rewriteItems(image, ITEM_TYPE.dirIndex, named, (data) => data.write('..', DIR_ENTRY.size));
  assert.ok(renamed > 0);
  await withReader(image, async (reader) => {
    await assert.rejects(
      reader.walk('', async () => {}),
      isVerify,
    );
  });
  await assert.rejects(lintSysext(context(), image, { name: 'dotdot' }), isInput, 'bake sysext lint refuses it');
});

/**
 * Changes the data of every leaf item of `type` that `matches`, in every leaf of the image (live or left
 * over), and fixes the leaf's checksum: damage only the reader's own checks can catch. Returns how many.
 */
async function rewriteItems(
  image: string,
  type: number,
  matches: (data: Buffer) => boolean,
  change: (data: Buffer) => void,
): Promise<number> {
  const file = await open(image, 'r+');
  try {
    const superblock = Buffer.alloc(4096);
    await file.read(superblock, 0, 4096, SUPERBLOCK);
    const nodesize = superblock.readUInt32LE(SUPER.nodesize);
    const { size } = await file.stat();
    let changed = 0;
    for (let at = 0; at + nodesize <= size; at += nodesize) {
      const block = Buffer.alloc(nodesize);
      await file.read(block, 0, nodesize, at);
      if (block[HEADER.level] !== 0 || block.readUInt32LE(0) !== checksum(block)) continue;
      if (!block.subarray(HEADER.fsid, HEADER.fsid + 16).equals(superblock.subarray(SUPER.fsid, SUPER.fsid + 16)))
        continue;
      let hits = 0;
      for (const item of leafItems(block, fail)) {
        const data = block.subarray(item.data, item.data + item.size);
        if (block[item.key + KEY.type] !== type || !matches(data)) continue;
        change(data);
        hits++;
      }
      if (hits === 0) continue;
      block.writeUInt32LE(checksum(block), 0);
      await file.write(block, 0, nodesize, at);
      changed += hits;
    }
    return changed;
  } finally {
    await file.close();
  }
}
