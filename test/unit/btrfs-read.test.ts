/**
 * The offline btrfs reader (issue 21 item 1) against filesystems made by the real tools: mkfs.btrfs
 * --rootdir as Flatcar's disk_util formats USR (mixed block groups, single profiles), and files the
 * kernel compressed with zstd and zlib as Flatcar's USR and OEM are. Then damaged and hostile images:
 * every refusal is a verify error, never a crash or a hang.
 */
import assert from 'node:assert/strict';
import { mkdir, open, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../bake/core/cleanup.ts';
import { type BakeError, isBakeError, verifyError } from '../../bake/core/errors.ts';
import { isRootUser } from '../../bake/core/exec.ts';
import { checksum, HEADER, KEY_POINTER } from '../../bake/image/btrfs-format.ts';
import { type BtrfsReader, openBtrfs } from '../../bake/image/btrfs-read.ts';
import { decompressZstdFrame } from '../../bake/image/zstd-frame.ts';
import { sparseFile } from '../support/fixtures/files.ts';
import { fixtureRunner } from '../support/fixtures/run.ts';

const MIB = 1024 * 1024;
/** The filesystem sits this far into the image file, as USR does in Flatcar's disk image. */
const OFFSET = 3 * MIB;
const FS_BYTES = 160 * MIB;
const fail = (problem: string) => verifyError(`USR ${problem}`, 'test');
const run = fixtureRunner();

const isVerify = (error: unknown) => isBakeError(error) && (error as BakeError).kind === 'verify';

/** A text that compresses well and is different on every line, so a wrong offset shows. */
const lines = (count: number, tag: string) =>
  Array.from({ length: count }, (_, index) => `${tag} line ${index}\n`).join('');

/** The tree every image holds: inline, multi-extent and empty files, links, a directory of many names. */
async function writeTree(root: string): Promise<void> {
  await mkdir(join(root, 'lib/many'), { recursive: true });
  await mkdir(join(root, 'share/flatcar'), { recursive: true });
  await writeFile(join(root, 'share/flatcar/os-release'), 'ID=flatcar\nVERSION_ID=4593.2.5\n');
  await symlink('../share/flatcar/os-release', join(root, 'lib/os-release'));
  await writeFile(join(root, 'lib/big'), lines(40_000, 'big'));
  await writeFile(join(root, 'lib/empty'), '');
  for (let index = 0; index < 400; index++) await writeFile(join(root, `lib/many/entry-${index}`), `${index}\n`);
}

async function checkTree(reader: BtrfsReader, source: string): Promise<void> {
  assert.deepEqual(await reader.lookup('/lib/os-release'), { kind: 'link', target: '../share/flatcar/os-release' });
  assert.deepEqual(await reader.lookup('/lib'), { kind: 'dir' });
  assert.deepEqual(await reader.lookup('/lib/missing'), { kind: 'missing' });
  assert.deepEqual(await reader.lookup('/lib/big/below-a-file'), { kind: 'missing' });
  assert.equal((await reader.read('/share/flatcar/os-release', 4096)).toString(), 'ID=flatcar\nVERSION_ID=4593.2.5\n');
  assert.ok((await reader.read('/lib/big', 4 * MIB)).equals(await readFile(join(source, 'lib/big'))));
  assert.equal((await reader.read('/lib/empty', 10)).length, 0);
  const many = await reader.list('/lib/many');
  assert.equal(many.length, 400);
  assert.deepEqual(new Set(many), new Set(Array.from({ length: 400 }, (_, index) => `entry-${index}`)));
  assert.equal((await reader.read('/lib/many/entry-321', 10)).toString(), '321\n');
  assert.deepEqual((await reader.list('/')).sort(), ['lib', 'share']);
  await assert.rejects(reader.read('/lib/big', 1024), isVerify, 'a file larger than asked for');
}

/** Opens the filesystem at OFFSET in `image` and hands the reader to `use`. */
async function withReader<T>(image: string, use: (reader: BtrfsReader) => Promise<T>, size = FS_BYTES): Promise<T> {
  await using scratch = await tempDir('btrfs-read-test');
  const file = await open(image, 'r');
  try {
    return await use(await openBtrfs({ file, offset: OFFSET, size, fail, run, scratch: scratch.path }));
  } finally {
    await file.close();
  }
}

/** A btrfs made like Flatcar's USR, placed at OFFSET in a larger image file. */
async function flatcarLikeImage(dir: string, tree: string, options: { compress?: string } = {}): Promise<string> {
  const fs = join(dir, 'fs.img');
  await sparseFile(fs, FS_BYTES);
  const rootdir = options.compress ? [] : ['-r', tree];
  await run.run('mkfs.btrfs', ['-q', '--mixed', '-m', 'single', '-d', 'single', ...rootdir, fs]);
  if (options.compress) await copyInCompressed(dir, fs, tree, options.compress);
  const image = join(dir, 'image.bin');
  await sparseFile(image, OFFSET + FS_BYTES + MIB);
  await run.run('dd', [
    `if=${fs}`,
    `of=${image}`,
    'bs=1M',
    `seek=${OFFSET / MIB}`,
    'conv=notrunc,sparse',
    'status=none',
  ]);
  return image;
}

/** The kernel writes the files (as Flatcar's build does, into a mount with compression set): root only. */
async function copyInCompressed(dir: string, fs: string, tree: string, compress: string): Promise<void> {
  const mountPoint = join(dir, 'mnt');
  await mkdir(mountPoint);
  await run.run('mount', ['-o', `loop,compress-force=${compress}`, fs, mountPoint]);
  try {
    await run.run('cp', ['-a', `${tree}/.`, mountPoint]);
  } finally {
    await run.run('umount', [mountPoint]);
  }
}

test('reads a mkfs.btrfs --rootdir filesystem at an offset: links, inline and large files, big directories', async () => {
  await using dir = await tempDir('btrfs-read');
  const tree = join(dir.path, 'tree');
  await writeTree(tree);
  const image = await flatcarLikeImage(dir.path, tree);
  await withReader(image, (reader) => checkTree(reader, tree));
});

for (const compress of ['zstd', 'zlib']) {
  test(`reads files the kernel compressed with ${compress}`, {
    skip: !isRootUser() && 'needs root to mount',
  }, async () => {
    await using dir = await tempDir('btrfs-read');
    const tree = join(dir.path, 'tree');
    await writeTree(tree);
    const image = await flatcarLikeImage(dir.path, tree, { compress });
    await withReader(image, (reader) => checkTree(reader, tree));
  });
}

test('refuses LZO rather than guessing', { skip: !isRootUser() && 'needs root to mount' }, async () => {
  await using dir = await tempDir('btrfs-read');
  const tree = join(dir.path, 'tree');
  await writeTree(tree);
  const image = await flatcarLikeImage(dir.path, tree, { compress: 'lzo' });
  await withReader(image, async (reader) => {
    await assert.rejects(reader.read('/lib/big', 4 * MIB), isVerify);
  });
});

test('hostile images: damaged blocks, a tree that loops, addresses outside the partition', async () => {
  await using dir = await tempDir('btrfs-read');
  const tree = join(dir.path, 'tree');
  await writeTree(tree);
  const image = await flatcarLikeImage(dir.path, tree);
  // Every node (level > 0) in the image, live or left over from mkfs.
  const nodes = await treeNodes(image);
  assert.ok(nodes.length > 0, 'the directory of 400 names needs more than one leaf');

  await withReader(image, (reader) => reader.lookup('/lib'), 64 * 1024 + 4096).then(
    () => assert.fail('a partition too small for its chunks was read'),
    (error: unknown) => assert.ok(isVerify(error), String(error)),
  );

  const looped = join(dir.path, 'looped.bin');
  await run.run('cp', ['--sparse=always', image, looped]);
  // Each node's first child becomes the node itself: a walk that trusted it would never end.
  await rewriteBlocks(looped, nodes, (block) => {
    block.writeBigUInt64LE(block.readBigUInt64LE(HEADER.bytenr), HEADER.size + KEY_POINTER.blockptr);
  });
  await assert.rejects(
    withReader(looped, (reader) => reader.list('/lib/many')),
    isVerify,
  );

  const damaged = join(dir.path, 'damaged.bin');
  await run.run('cp', ['--sparse=always', image, damaged]);
  await rewriteBlocks(damaged, nodes, (block) => block.writeUInt8(block[HEADER.size + 1]! ^ 0xff, HEADER.size + 1), {
    keepChecksum: true,
  });
  await assert.rejects(
    withReader(damaged, (reader) => reader.list('/lib/many')),
    isVerify,
  );
});

test('a zstd frame that could decompress to more than an extent holds is refused before zstd runs', async () => {
  await using scratch = await tempDir('btrfs-read-zstd');
  // Frame header (single segment, 1-byte content size), then 200 RLE blocks of 128 KiB each.
  const rle = Buffer.alloc(4);
  rle.writeUIntLE(((128 * 1024) << 3) | (1 << 1), 0, 3);
  const frame = Buffer.concat([
    Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20, 0xff]),
    ...Array.from({ length: 200 }, () => rle),
  ]);
  await assert.rejects(decompressZstdFrame(run, scratch.path, frame, 256 * 1024, fail), isVerify);
  const padded = Buffer.concat([await zstd(Buffer.from(lines(3000, 'pad'))), Buffer.alloc(3000)]);
  assert.equal((await decompressZstdFrame(run, scratch.path, padded, 256 * 1024, fail)).toString(), lines(3000, 'pad'));
});

async function zstd(data: Buffer): Promise<Buffer> {
  await using dir = await tempDir('zstd');
  await writeFile(join(dir.path, 'in'), data);
  await run.run('zstd', ['-q', join(dir.path, 'in'), '-o', join(dir.path, 'in.zst')]);
  return readFile(join(dir.path, 'in.zst'));
}

/** Byte offsets in `image` of the filesystem's internal tree nodes, found by scanning for btrfs headers. */
async function treeNodes(image: string): Promise<number[]> {
  const data = await readFile(image);
  const found: number[] = [];
  for (let at = OFFSET; at + 4096 <= data.length; at += 4096) {
    const block = data.subarray(at, at + 4096);
    if (block[HEADER.level]! > 0 && block[HEADER.level]! < 8 && block.readUInt32LE(0) === checksum(block))
      found.push(at);
  }
  return found;
}

async function rewriteBlocks(
  image: string,
  offsets: number[],
  change: (block: Buffer) => void,
  options: { keepChecksum?: boolean } = {},
): Promise<void> {
  const file = await open(image, 'r+');
  try {
    for (const at of offsets) {
      const block = Buffer.alloc(4096);
      await file.read(block, 0, 4096, at);
      change(block);
      if (!options.keepChecksum) block.writeUInt32LE(checksum(block), 0);
      await file.write(block, 0, 4096, at);
    }
  } finally {
    await file.close();
  }
}
