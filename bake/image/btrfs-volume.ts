/**
 * The block device under bake's offline btrfs reader (btrfs-read.ts): an image file read at an offset,
 * every read bounded to the filesystem's bytes, logical addresses mapped through its chunks, and tree
 * blocks searched by key, each block checked (its checksum, its own address, one level below its parent)
 * and counted, so a damaged or hostile tree is refused and cannot loop.
 */
import {
  type Chunk,
  CSUM_TYPE_CRC32C,
  checksum,
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

export interface BtrfsSource {
  /** The image file, open for reading. */
  file: { read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> };
  /** Where the filesystem starts in the file, and how many bytes of it it may use. */
  offset: number;
  size: number;
  fail: Fail;
}

export interface Key {
  objectid: bigint;
  type: number;
  offset: bigint;
}

export interface Tree {
  logical: number;
  level: number;
}

/** The subvolume the kernel mounts when none is named (Flatcar names none). */
const FS_TREE = 5n;
const CHUNK_ITEMS = 256n;
export const LAST_KEY_OFFSET = 0xffff_ffff_ffff_ffffn;
const MAX_LEVEL = 7;
/** Far more tree blocks than any lookup in a 2 GiB USR, or a walk of a sysext, needs: a hostile tree stops here. */
const MAX_TREE_BLOCKS = 100_000;
const MAX_CHUNKS = 10_000;

/** The keys of one object's items of one type: all offsets. */
export const keysOf = (objectid: bigint, type: number): [Key, Key] => [
  { objectid, type, offset: 0n },
  { objectid, type, offset: LAST_KEY_OFFSET },
];

const order = (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1);
const compareKeys = (a: Key, b: Key) => order(a.objectid, b.objectid) || a.type - b.type || order(a.offset, b.offset);

export function keyAt(buffer: Buffer, at: number): Key {
  return {
    objectid: buffer.readBigUInt64LE(at + KEY.objectid),
    type: buffer[at + KEY.type]!,
    offset: buffer.readBigUInt64LE(at + KEY.offset),
  };
}

/** The partition's block device, as far as bake needs it: bounded reads and logical-to-physical mapping. */
export class Volume {
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
