/**
 * Reproducible btrfs sysexts: two builds of one tree (made afresh in between, so every inode number and
 * ctime differs) come out byte-identical where mkfs.btrfs alone does not, the result is a sound
 * filesystem with the same files and times, and none of mkfs's random UUIDs is left in it. The tree is
 * big enough for multi-level trees and leaves that mkfs rewrote several times.
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { createContext } from '../../bake/context.ts';
import { sha256File } from '../../bake/core/checksums.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { pinBtrfsImage } from '../../bake/sysext/btrfs-pin.ts';
import { buildImage } from '../../bake/sysext/image.ts';
import { normaliseTree } from '../../bake/sysext/tree.ts';

const EPOCH = 1_700_000_000;
let work: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'btrfs-pin-'));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The tree afresh, as the builder leaves it: every time stamped with the epoch. */
async function makeTree(tree: string) {
  await rm(tree, { recursive: true, force: true });
  for (let dir = 0; dir < 30; dir++) {
    const path = join(tree, 'usr/share/pin', `dir-${dir}`);
    await mkdir(path, { recursive: true });
    for (let file = 0; file < 100; file++)
      await writeFile(join(path, `file-${file}`), `dir ${dir} file ${file}\n`.repeat(file));
  }
  await writeFile(join(tree, 'usr/share/pin/large'), Buffer.alloc(3 << 20, 'x'));
  return normaliseTree(tree, EPOCH);
}

async function mkfsAlone(tree: string, image: string): Promise<void> {
  await writeFile(image, '');
  await truncate(image, 512 << 20);
  await execa('mkfs.btrfs', [
    '-q',
    '-f',
    '-U',
    '00000000-0000-0000-0000-000000000000',
    '--rootdir',
    tree,
    '--shrink',
    image,
  ]);
}

async function deviceUuid(image: string): Promise<string> {
  const { stdout } = await execa('btrfs', ['inspect-internal', 'dump-super', image]);
  return /^dev_item\.uuid\s+(\S+)/m.exec(stdout)![1]!;
}

test('two builds of one tree are byte-identical, where mkfs.btrfs alone differs, and still sound', async () => {
  const tree = join(work, 'tree');
  const alone = [join(work, 'alone-1.img'), join(work, 'alone-2.img')];
  const images = [join(work, 'first.img'), join(work, 'second.img')];
  for (const [index, image] of images.entries()) {
    const entries = await makeTree(tree);
    await mkfsAlone(tree, alone[index]!);
    const scratch = join(work, `scratch-${index}`);
    await mkdir(scratch);
    await buildImage(createContext({ log: memoryLogger() }), 'btrfs', {
      tree,
      output: image,
      epoch: EPOCH,
      entries,
      scratch,
    });
  }
  assert.notEqual(
    await sha256File(alone[0]!),
    await sha256File(alone[1]!),
    'mkfs.btrfs alone should differ between builds',
  );
  assert.equal(await sha256File(images[0]!), await sha256File(images[1]!));

  await execa('btrfs', ['check', '--readonly', images[0]!]);
  const randomUuid = await deviceUuid(alone[0]!);
  await pinBtrfsImage(alone[0]!, EPOCH);
  assert.notEqual(await deviceUuid(alone[0]!), randomUuid);
  const pinned = await readFile(alone[0]!);
  assert.equal(
    pinned.indexOf(Buffer.from(randomUuid.replaceAll('-', ''), 'hex')),
    -1,
    'the random device UUID is gone',
  );

  const mountpoint = join(work, 'mnt');
  await mkdir(mountpoint);
  await execa('mount', ['-o', 'ro,loop', images[0]!, mountpoint]);
  try {
    assert.equal(await readFile(join(mountpoint, 'usr/share/pin/dir-29/file-3'), 'utf8'), 'dir 29 file 3\n'.repeat(3));
    const { stdout } = await execa('stat', ['-c', '%X %Y %Z %u', join(mountpoint, 'usr/share/pin/dir-7')]);
    assert.equal(stdout, `${EPOCH} ${EPOCH} ${EPOCH} 0`);
  } finally {
    await execa('umount', [mountpoint]);
  }
});

test('a file that is not a btrfs image is refused with a clear error', async () => {
  const image = join(work, 'not-btrfs.img');
  await writeFile(image, Buffer.alloc(1 << 20));
  await assert.rejects(pinBtrfsImage(image, EPOCH), /mkfs\.btrfs wrote no btrfs superblock/);
});
