/**
 * Reads a btrfs filesystem inside an image file, at its partition's offset, with no loop device, no
 * mount and no root: btrfs-progs take no offset, and copying a 1 GiB partition out to read one small file
 * would cost more than the rest of the check. It answers what bake asks of a partition: what a path is,
 * the names in a directory, a small file's bytes.
 *
 * Everything it reads is hostile: every tree block must carry its own address and checksum and sit one
 * level below its parent (so a tree cannot loop), every read stays inside the partition, counts and sizes
 * are capped, and what it does not read (LZO, multi-device profiles, checksums other than crc32c,
 * encrypted extents) is refused, never guessed.
 */
import { inflateSync } from 'node:zlib';
import CRC32C from 'crc-32/crc32c.js';
import type { Runner } from '../core/exec.ts';
import {
  type Chunk,
  CSUM_TYPE_CRC32C,
  checksum,
  DIR_ENTRY,
  type Fail,
  HEADER,
  ITEM_TYPE,
  KEY,
  keyPointers,
  leafItems,
  MAGIC,
  parseChunk,
  physicalRanges,
  ROOT_ITEM,
  readU64,
  SUPER,
  SUPERBLOCK_OFFSETS,
  SUPERBLOCK_SIZE,
  safeNumber,
  sysChunkArray,
  within,
} from './btrfs-format.ts';
import { decompressZstdFrame } from './zstd-frame.ts';

/** What a path is, as lstat would say. */
export type BtrfsEntry = { kind: 'file' | 'dir' | 'missing' | 'other' } | { kind: 'link'; target: string };

export interface BtrfsReader {
  lookup(path: string): Promise<BtrfsEntry>;
  /** The names in a directory, in the order they were made. */
  list(path: string): Promise<string[]>;
  /** A regular file's bytes; refused when it is larger than `maxBytes`. */
  read(path: string, maxBytes: number): Promise<Buffer>;
}

export interface BtrfsSource {
  /** The image file, open for reading. */
  file: { read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> };
  /** Where the filesystem starts in the file, and how many bytes of it it may use. */
  offset: number;
  size: number;
  fail: Fail;
  /** For zstd extents (node has no zstd of its own): the runner and a directory for the tool's output. */
  run: Runner;
  scratch: string;
}

/** The subvolume the kernel mounts when none is named (Flatcar names none). */
const FS_TREE = 5n;
const CHUNK_ITEMS = 256n;
const LAST_KEY_OFFSET = 0xffff_ffff_ffff_ffffn;
const MAX_LEVEL = 7;
/** Far more tree blocks than any lookup in a 2 GiB USR needs: a hostile tree stops here. */
const MAX_TREE_BLOCKS = 100_000;
const MAX_DIR_ENTRIES = 100_000;
const MAX_CHUNKS = 10_000;
const MAX_NAME = 255;
/** A file bake reads is small: a few hundred extents at most, so a file split into millions is refused. */
const MAX_EXTENTS = 10_000;
/** btrfs compresses at most 128 KiB of a file into one extent; a symlink holds at most PATH_MAX - 1 bytes. */
const MAX_COMPRESSED_EXTENT = 128 * 1024;
const MAX_LINK_TARGET = 4095;
const COMPRESSION = { none: 0, zlib: 1, zstd: 3 };
const EXTENT = {
  ramBytes: 8,
  compression: 16,
  encryption: 17,
  otherEncoding: 18,
  type: 20,
  inline: 21,
  diskBytenr: 21,
  diskBytes: 29,
  offset: 37,
  bytes: 45,
  size: 53,
};
const EXTENT_TYPE = { inline: 0, regular: 1 };
const INODE = { size: 16, mode: 52, itemSize: 160 };
const S_IFMT = 0o170000;
const KINDS: ReadonlyMap<number, Inode['kind']> = new Map([
  [0o100000, 'file'],
  [0o040000, 'dir'],
  [0o120000, 'link'],
]);

interface Key {
  objectid: bigint;
  type: number;
  offset: bigint;
}

interface Tree {
  logical: number;
  level: number;
}

interface Inode {
  ino: bigint;
  kind: 'file' | 'dir' | 'link' | 'other';
  size: number;
}

export async function openBtrfs(source: BtrfsSource): Promise<BtrfsReader> {
  const { volume, fsTree, topDir } = await Volume.open(source);
  const files = new FileTree(volume, fsTree, topDir, source);
  return {
    async lookup(path) {
      const inode = await files.walk(path);
      if (!inode) return { kind: 'missing' };
      if (inode.kind !== 'link') return { kind: inode.kind };
      if (inode.size > MAX_LINK_TARGET) throw source.fail(`has a symlink of ${inode.size} bytes at ${path}`);
      return { kind: 'link', target: (await files.contents(inode)).toString('utf8') };
    },
    async list(path) {
      const inode = await files.walk(path);
      if (inode?.kind !== 'dir') throw source.fail(`has no directory ${path}`);
      return files.names(inode.ino);
    },
    async read(path, maxBytes) {
      const inode = await files.walk(path);
      if (inode?.kind !== 'file') throw source.fail(`has no regular file ${path}`);
      if (inode.size > maxBytes) throw source.fail(`has ${path} larger than ${maxBytes} bytes`);
      return files.contents(inode);
    },
  };
}

/** The keys of one object's items of one type: all offsets. */
const keysOf = (objectid: bigint, type: number): [Key, Key] => [
  { objectid, type, offset: 0n },
  { objectid, type, offset: LAST_KEY_OFFSET },
];

const order = (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1);
const compareKeys = (a: Key, b: Key) => order(a.objectid, b.objectid) || a.type - b.type || order(a.offset, b.offset);

function keyAt(buffer: Buffer, at: number): Key {
  return {
    objectid: buffer.readBigUInt64LE(at + KEY.objectid),
    type: buffer[at + KEY.type]!,
    offset: buffer.readBigUInt64LE(at + KEY.offset),
  };
}

/** The kernel's btrfs_name_hash: crc32c seeded with ~1 and not inverted at the end (crc-32 inverts both). */
const nameHash = (name: Buffer) => BigInt(~CRC32C.buf(name, 1) >>> 0);

/** The partition's block device, as far as bake needs it: bounded reads and logical-to-physical mapping. */
class Volume {
  private blocksRead = 0;

  private constructor(
    private readonly source: BtrfsSource,
    private readonly nodesize: number,
    private readonly chunks: Chunk[],
  ) {}

  static async open(source: BtrfsSource): Promise<{ volume: Volume; fsTree: Tree; topDir: bigint }> {
    const { fail } = source;
    const superblock = await readPartition(source, SUPERBLOCK_OFFSETS[0]!, SUPERBLOCK_SIZE);
    if (!superblock.subarray(SUPER.magic, SUPER.magic + MAGIC.length).equals(MAGIC)) throw fail('has no superblock');
    if (superblock.readUInt16LE(SUPER.csumType) !== CSUM_TYPE_CRC32C) throw fail('uses checksums other than crc32c');
    if (superblock.readUInt32LE(0) !== checksum(superblock)) throw fail('has a damaged superblock');
    const nodesize = superblock.readUInt32LE(SUPER.nodesize);
    if (nodesize < 4096 || nodesize > 65536 || (nodesize & (nodesize - 1)) !== 0)
      throw fail(`has a node size of ${nodesize} bytes`);
    const system = [...sysChunkArray(superblock, fail)].map(({ chunk, logical }) =>
      parseChunk(superblock, chunk, logical, fail),
    );
    const chunks: Chunk[] = [];
    const chunkTree = treeAt(superblock, SUPER.chunkRoot, SUPER.chunkRootLevel, fail);
    for await (const { key, data } of new Volume(source, nodesize, system).items(
      chunkTree,
      ...keysOf(CHUNK_ITEMS, ITEM_TYPE.chunk),
    )) {
      if (chunks.length === MAX_CHUNKS) throw fail(`has more than ${MAX_CHUNKS} chunks`);
      chunks.push(parseChunk(data, 0, safeNumber(key.offset, fail), fail));
    }
    const volume = new Volume(source, nodesize, chunks);
    const rootTree = treeAt(superblock, SUPER.root, SUPER.rootLevel, fail);
    const root = await volume.first(rootTree, ...keysOf(FS_TREE, ITEM_TYPE.root));
    if (!root) throw fail('has no top subvolume');
    within(root.data, ROOT_ITEM.level, 1, fail);
    const fsTree = { logical: readU64(root.data, ROOT_ITEM.bytenr, fail), level: root.data[ROOT_ITEM.level]! };
    return { volume, fsTree, topDir: BigInt(readU64(root.data, ROOT_ITEM.rootDirid, fail)) };
  }

  /** The items of `tree` whose keys lie in [min, max], in key order; only the subtrees that can hold them are read. */
  async *items(tree: Tree, min: Key, max: Key): AsyncGenerator<{ key: Key; data: Buffer }> {
    const { fail } = this.source;
    const block = await this.treeBlock(tree);
    for (const { key, data, size } of leafItems(block, fail)) {
      const found = keyAt(block, key);
      if (compareKeys(found, min) >= 0 && compareKeys(found, max) <= 0)
        yield { key: found, data: block.subarray(data, data + size) };
    }
    const children = [...keyPointers(block, fail)];
    for (const [index, child] of children.entries()) {
      const next = children[index + 1];
      // Child i holds the keys from its own key up to (not including) the next child's.
      if (next && compareKeys(keyAt(block, next.key), min) <= 0) continue;
      if (index > 0 && compareKeys(keyAt(block, child.key), max) > 0) break;
      yield* this.items({ logical: child.blockptr, level: tree.level - 1 }, min, max);
    }
  }

  async first(tree: Tree, min: Key, max: Key): Promise<{ key: Key; data: Buffer } | undefined> {
    for await (const item of this.items(tree, min, max)) return item;
    return undefined;
  }

  /** `length` bytes at a logical address, all in one chunk and inside the partition. */
  async read(logical: number, length: number): Promise<Buffer> {
    const [first] = physicalRanges(this.chunks, { start: logical, length }, this.source.fail);
    return readPartition(this.source, first!.start, length);
  }

  private async treeBlock({ logical, level }: Tree): Promise<Buffer> {
    const { fail } = this.source;
    if (++this.blocksRead > MAX_TREE_BLOCKS) throw fail(`needs more than ${MAX_TREE_BLOCKS} tree blocks read`);
    if (level < 0 || level > MAX_LEVEL) throw fail(`has a tree of level ${level}`);
    const block = await this.read(logical, this.nodesize);
    if (
      block.readUInt32LE(0) !== checksum(block) ||
      block.readBigUInt64LE(HEADER.bytenr) !== BigInt(logical) ||
      block[HEADER.level] !== level
    )
      throw fail(`has a damaged tree block at ${logical}`);
    return block;
  }
}

/** The files of one subvolume, looked up by name from its top directory. */
class FileTree {
  constructor(
    private readonly volume: Volume,
    private readonly tree: Tree,
    private readonly topDir: bigint,
    private readonly source: BtrfsSource,
  ) {}

  /** The inode at `path` (no symlink followed: the caller decides where links may lead), or none. */
  async walk(path: string): Promise<Inode | undefined> {
    let inode = await this.inode(this.topDir);
    for (const name of path.split('/').filter(Boolean)) {
      if (name === '.' || name === '..') throw this.source.fail(`was asked for an unresolved path ${path}`);
      if (inode?.kind !== 'dir') return undefined;
      inode = await this.child(inode.ino, Buffer.from(name, 'utf8'));
    }
    return inode;
  }

  async names(dir: bigint): Promise<string[]> {
    const names: string[] = [];
    for await (const { data } of this.volume.items(this.tree, ...keysOf(dir, ITEM_TYPE.dirIndex))) {
      if (names.length === MAX_DIR_ENTRIES)
        throw this.source.fail(`has more than ${MAX_DIR_ENTRIES} names in a directory`);
      for (const { name } of this.entries(data)) names.push(name.toString('utf8'));
    }
    return names;
  }

  /** A file's bytes: inline, regular or compressed extents laid at their offsets; holes stay zero. */
  async contents(inode: Inode): Promise<Buffer> {
    const out = Buffer.alloc(inode.size);
    let extents = 0;
    for await (const { key, data } of this.volume.items(this.tree, ...keysOf(inode.ino, ITEM_TYPE.extentData))) {
      if (key.offset >= BigInt(out.length)) break;
      if (++extents > MAX_EXTENTS) throw this.source.fail(`has a file in more than ${MAX_EXTENTS} extents`);
      const at = Number(key.offset);
      (await this.extent(data, out.length - at)).copy(out, at);
    }
    return out;
  }

  private async inode(ino: bigint): Promise<Inode | undefined> {
    const item = await this.volume.first(this.tree, ...keysOf(ino, ITEM_TYPE.inode));
    if (!item) return undefined;
    const { fail } = this.source;
    within(item.data, 0, INODE.itemSize, fail);
    const kind = KINDS.get(item.data.readUInt32LE(INODE.mode) & S_IFMT) ?? 'other';
    return { ino, kind, size: readU64(item.data, INODE.size, fail) };
  }

  /** A directory's entry `name`, found by its hash (entries whose hashes collide share one item). */
  private async child(dir: bigint, name: Buffer): Promise<Inode | undefined> {
    const key = { objectid: dir, type: ITEM_TYPE.dirItem, offset: nameHash(name) };
    const item = await this.volume.first(this.tree, key, key);
    const entry = item && [...this.entries(item.data)].find((candidate) => candidate.name.equals(name));
    if (!entry) return undefined;
    // A subvolume (its location is a root item) is left alone: Flatcar's partitions have none.
    if (entry.location.type !== ITEM_TYPE.inode) return { ino: entry.location.objectid, kind: 'other', size: 0 };
    return this.inode(entry.location.objectid);
  }

  private *entries(data: Buffer): Generator<{ name: Buffer; location: Key }> {
    const { fail } = this.source;
    for (let at = 0; at < data.length; ) {
      within(data, at, DIR_ENTRY.size, fail);
      const nameLength = data.readUInt16LE(at + DIR_ENTRY.nameLength);
      const name = at + DIR_ENTRY.size;
      const end = name + nameLength + data.readUInt16LE(at + DIR_ENTRY.dataLength);
      if (nameLength === 0 || nameLength > MAX_NAME) throw fail(`has a name of ${nameLength} bytes`);
      within(data, name, end - name, fail);
      yield { name: data.subarray(name, name + nameLength), location: keyAt(data, at) };
      at = end;
    }
  }

  /** An extent's bytes for the file, at most `room` of them (what is left of the file from its offset). */
  private async extent(data: Buffer, room: number): Promise<Buffer> {
    const { fail } = this.source;
    within(data, 0, EXTENT.inline, fail);
    if (data[EXTENT.encryption] !== 0 || data.readUInt16LE(EXTENT.otherEncoding) !== 0)
      throw fail('has encrypted or encoded extents');
    const compression = data[EXTENT.compression]!;
    if (data[EXTENT.type] === EXTENT_TYPE.inline) {
      const stored = data.subarray(EXTENT.inline);
      return compression === COMPRESSION.none ? stored : this.decompress(stored, compression, data);
    }
    within(data, 0, EXTENT.size, fail);
    const diskBytenr = readU64(data, EXTENT.diskBytenr, fail);
    // A hole (no disk address) and preallocated space read as zeros, which the file already holds.
    if (diskBytenr === 0 || data[EXTENT.type] !== EXTENT_TYPE.regular) return Buffer.alloc(0);
    const offset = readU64(data, EXTENT.offset, fail);
    const length = Math.min(readU64(data, EXTENT.bytes, fail), room);
    if (compression === COMPRESSION.none) return this.volume.read(diskBytenr + offset, length);
    const diskBytes = readU64(data, EXTENT.diskBytes, fail);
    if (diskBytes > MAX_COMPRESSED_EXTENT) throw fail(`has a compressed extent of ${diskBytes} bytes`);
    const plain = await this.decompress(await this.volume.read(diskBytenr, diskBytes), compression, data);
    return plain.subarray(offset, offset + length);
  }

  private async decompress(stored: Buffer, compression: number, extent: Buffer): Promise<Buffer> {
    const { fail, run, scratch } = this.source;
    const plainBytes = readU64(extent, EXTENT.ramBytes, fail);
    if (plainBytes > MAX_COMPRESSED_EXTENT) throw fail(`has a compressed extent of ${plainBytes} bytes`);
    if (compression === COMPRESSION.zstd)
      return decompressZstdFrame(run, scratch, stored, MAX_COMPRESSED_EXTENT * 2, fail);
    if (compression !== COMPRESSION.zlib) throw fail(`uses compression ${compression} (bake reads zlib and zstd)`);
    try {
      return inflateSync(stored, { maxOutputLength: plainBytes });
    } catch {
      throw fail('has a damaged zlib extent');
    }
  }
}

function treeAt(superblock: Buffer, root: number, level: number, fail: Fail): Tree {
  return { logical: readU64(superblock, root, fail), level: superblock[level]! };
}

/** `length` bytes at `position` in the partition; refused when they leave it. */
async function readPartition(source: BtrfsSource, position: number, length: number): Promise<Buffer> {
  if (position < 0 || length < 0 || position + length > source.size)
    throw source.fail(`points outside its partition (${length} bytes at ${position})`);
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await source.file.read(buffer, 0, length, source.offset + position);
  if (bytesRead < length) throw source.fail('is cut short by the end of the image');
  return buffer;
}
