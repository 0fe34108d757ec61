/**
 * Makes a fresh mkfs.btrfs image reproducible. btrfs-progs (6.2 on Debian 12) has no option for what
 * differs between two builds of one tree: random device, chunk-tree and subvolume UUIDs, the build time
 * on the top directory and the subvolume's root item, and the ctimes it copies from the source tree.
 * Worse, mkfs leaves earlier copies of its trees behind (in space it gave back, in DUP's second copy,
 * in the unused end of leaves), each with the same random values.
 *
 * So: walk the live trees, zero every byte of the image that no live tree block, data extent or
 * superblock uses, rewrite the random fields of the live blocks to fixed values and their set
 * timestamps to the epoch, recompute checksums, and write every block to each of its copies. Last, no
 * random UUID may be left in what was written: a field this does not know fails the build instead of
 * passing unnoticed.
 *
 * Layout facts: https://btrfs.readthedocs.io/en/latest/dev/On-disk-format.html
 */
import { type FileHandle, open } from 'node:fs/promises';
import { toolError } from '../core/errors.ts';
import {
  CHECKSUMMED_FROM,
  CHUNK,
  type Chunk,
  checksum,
  DEV_ITEM_UUID,
  DIR_ENTRY,
  type Fail,
  HEADER,
  INODE_TIMES,
  ITEM,
  ITEM_TYPE,
  KEY,
  KEY_POINTER,
  keyPointers,
  leafItems,
  MAGIC,
  parseChunk,
  physicalRanges,
  type Range,
  ROOT_ITEM,
  SUPER,
  SUPERBLOCK_OFFSETS,
  SUPERBLOCK_SIZE,
  SYS_CHUNK_ARRAY_CAPACITY,
  sysChunkArray,
} from '../image/btrfs-format.ts';

const DEV_EXTENT_CHUNK_TREE_UUID = 32;
const UUID_SIZE = 16;
const PAGE_SIZE = 4096;

interface LiveTrees {
  /** Every reachable tree block, by logical address. */
  blocks: Map<number, Buffer>;
  dataExtents: Range[];
}

/** mkfs.btrfs wrote what bake cannot pin: a build failure, never a verdict on the tree. */
const unpinnable: Fail = (problem) => toolError(`mkfs.btrfs wrote a btrfs image that ${problem}`);

/**
 * Rewrites a fresh mkfs.btrfs image in place: unused bytes zeroed, random UUIDs fixed, inode times and
 * set root-item times at `epoch`, directory-entry transids at their leaf's generation.
 */
export async function pinBtrfsImage(path: string, epoch: number): Promise<void> {
  const file = await open(path, 'r+');
  try {
    const superblocks: Array<{ offset: number; copy: Buffer }> = [];
    for (const offset of SUPERBLOCK_OFFSETS) {
      const copy = await readSuperblock(file, offset, path);
      if (copy) superblocks.push({ offset, copy });
    }
    const superblock = superblocks[0]?.offset === SUPERBLOCK_OFFSETS[0] ? superblocks[0].copy : undefined;
    if (!superblock) throw toolError(`${path}: mkfs.btrfs wrote no btrfs superblock`);
    const nodesize = superblock.readUInt32LE(SUPER.nodesize);
    const chunks = await readChunks(file, superblock, nodesize, path);
    const trees = await readLiveTrees(file, superblock, chunks, nodesize, path);

    const kept = [
      ...superblocks.map(({ offset }) => ({ start: offset, length: SUPERBLOCK_SIZE })),
      ...[...trees.blocks.keys()].flatMap((logical) =>
        physicalRanges(chunks, { start: logical, length: nodesize }, unpinnable),
      ),
      ...trees.dataExtents.flatMap((extent) => physicalRanges(chunks, extent, unpinnable)),
    ];
    await zeroAllBut(file, kept, (await file.stat()).size);

    const uuids = new UuidPins(path);
    uuids.collect(uuidAt(superblock, SUPER.devItem + DEV_ITEM_UUID));
    for (const block of trees.blocks.values()) collectUuids(block, uuids);
    for (const [logical, block] of trees.blocks) {
      pinTreeBlock(block, uuids, epoch);
      writeChecksum(block);
      uuids.assertGone(block);
      for (const range of physicalRanges(chunks, { start: logical, length: nodesize }, unpinnable))
        await file.write(block, 0, nodesize, range.start);
    }
    // Read before anything was zeroed, which never touches a superblock (they are kept).
    for (const { offset, copy } of superblocks) {
      pinSuperblock(copy, uuids);
      uuids.assertGone(copy);
      await file.write(copy, 0, SUPERBLOCK_SIZE, offset);
    }
  } finally {
    await file.close();
  }
}

/** Random UUIDs found in the image, each with the fixed one that replaces it, numbered in the order found. */
class UuidPins {
  private readonly pins = new Map<string, Buffer>();

  constructor(private readonly path: string) {}

  collect(uuid: Buffer): void {
    const key = uuid.toString('hex');
    if (uuid.every((byte) => byte === 0) || this.pins.has(key)) return;
    const pinned = Buffer.alloc(UUID_SIZE);
    pinned[0] = 0xba; // "ba(ke)": plainly not random, and never the all-zero "no UUID"
    pinned.writeUInt32BE(this.pins.size + 1, UUID_SIZE - 4);
    this.pins.set(key, pinned);
  }

  /** Replaces the 16 bytes at `offset` when they are one of the random UUIDs. */
  pin(buffer: Buffer, offset: number): void {
    buffer.set(this.replacement(uuidAt(buffer, offset)), offset);
  }

  /**
   * The UUID tree keys an item by a UUID split into the key's objectid and offset (the type byte
   * between). mkfs makes one subvolume, so its leaf holds one key and a new key cannot break the order.
   */
  pinSplitKey(buffer: Buffer, key: number): void {
    const uuid = Buffer.concat([buffer.subarray(key, key + 8), buffer.subarray(key + KEY.offset, key + KEY.size)]);
    const pinned = this.replacement(uuid);
    buffer.set(pinned.subarray(0, 8), key);
    buffer.set(pinned.subarray(8), key + KEY.offset);
  }

  assertGone(buffer: Buffer): void {
    for (const key of this.pins.keys()) {
      if (!buffer.includes(Buffer.from(key, 'hex'))) continue;
      throw toolError(
        `${this.path}: mkfs.btrfs wrote a random UUID where bake does not know to pin it`,
        'build this extension as squashfs or erofs, or report the btrfs-progs version',
      );
    }
  }

  private replacement(uuid: Buffer): Buffer {
    return this.pins.get(uuid.toString('hex')) ?? uuid;
  }
}

const uuidAt = (buffer: Buffer, offset: number) => buffer.subarray(offset, offset + UUID_SIZE);

/** The superblock copy at `offset`, or nothing where the image is too small to hold one. */
async function readSuperblock(file: FileHandle, offset: number, path: string): Promise<Buffer | undefined> {
  const buffer = Buffer.alloc(SUPERBLOCK_SIZE);
  const { bytesRead } = await file.read(buffer, 0, SUPERBLOCK_SIZE, offset);
  if (bytesRead < SUPERBLOCK_SIZE || !buffer.subarray(SUPER.magic, SUPER.magic + 8).equals(MAGIC)) return undefined;
  if (buffer.readUInt16LE(SUPER.csumType) !== 0) throw toolError(`${path}: only crc32c btrfs checksums can be pinned`);
  return buffer;
}

/** The chunks: the superblock's system chunks lead to the chunk tree, which lists them all. */
async function readChunks(file: FileHandle, superblock: Buffer, nodesize: number, path: string): Promise<Chunk[]> {
  const systemChunks = [...sysChunkArray(superblock, unpinnable)].map(({ chunk, logical }) =>
    parseChunk(superblock, chunk, logical, unpinnable),
  );
  const chunks: Chunk[] = [];
  await walkTree(file, systemChunks, nodesize, Number(superblock.readBigUInt64LE(SUPER.chunkRoot)), path, (block) => {
    for (const { type, key, data } of leafItems(block, unpinnable)) {
      if (type === ITEM_TYPE.chunk)
        chunks.push(parseChunk(block, data, Number(block.readBigUInt64LE(key + KEY.offset)), unpinnable));
    }
  });
  return chunks;
}

/** The root tree, the trees its root items name, and the data extents the extent tree lists. */
async function readLiveTrees(
  file: FileHandle,
  superblock: Buffer,
  chunks: Chunk[],
  nodesize: number,
  path: string,
): Promise<LiveTrees> {
  const live: LiveTrees = { blocks: new Map(), dataExtents: [] };
  const collect = (block: Buffer, logical: number) => {
    live.blocks.set(logical, block);
    for (const { type, key } of leafItems(block, unpinnable)) {
      if (type === ITEM_TYPE.extent) {
        live.dataExtents.push({
          start: Number(block.readBigUInt64LE(key + KEY.objectid)),
          length: Number(block.readBigUInt64LE(key + KEY.offset)),
        });
      }
    }
  };
  const treeRoots: number[] = [];
  await walkTree(file, chunks, nodesize, Number(superblock.readBigUInt64LE(SUPER.root)), path, (block, logical) => {
    collect(block, logical);
    for (const { type, data } of leafItems(block, unpinnable))
      if (type === ITEM_TYPE.root) treeRoots.push(Number(block.readBigUInt64LE(data + ROOT_ITEM.bytenr)));
  });
  treeRoots.push(Number(superblock.readBigUInt64LE(SUPER.chunkRoot)));
  for (const root of treeRoots) await walkTree(file, chunks, nodesize, root, path, collect);
  // Non-skinny metadata extents are tree blocks, already kept; keeping them again is harmless.
  return live;
}

async function walkTree(
  file: FileHandle,
  chunks: Chunk[],
  nodesize: number,
  logical: number,
  path: string,
  visit: (block: Buffer, logical: number) => void,
): Promise<void> {
  const block = Buffer.alloc(nodesize);
  await file.read(
    block,
    0,
    nodesize,
    physicalRanges(chunks, { start: logical, length: nodesize }, unpinnable)[0]!.start,
  );
  if (block.readBigUInt64LE(HEADER.bytenr) !== BigInt(logical) || block.readUInt32LE(0) !== checksum(block)) {
    throw toolError(`${path}: btrfs tree block ${logical} is damaged`);
  }
  visit(block, logical);
  for (const { blockptr } of keyPointers(block, unpinnable))
    await walkTree(file, chunks, nodesize, blockptr, path, visit);
}

/** Writes zeros over every page of the file outside `kept` that is not zero already (holes stay holes). */
async function zeroAllBut(file: FileHandle, kept: Range[], size: number): Promise<void> {
  const window = Buffer.alloc(1 << 20);
  const zeros = Buffer.alloc(PAGE_SIZE);
  let cursor = 0;
  const zeroUpTo = async (end: number) => {
    for (; cursor < end; ) {
      const { bytesRead } = await file.read(window, 0, Math.min(window.length, end - cursor), cursor);
      for (let page = 0; page < bytesRead; page += PAGE_SIZE) {
        const length = Math.min(PAGE_SIZE, bytesRead - page);
        if (!window.subarray(page, page + length).equals(zeros.subarray(0, length)))
          await file.write(zeros, 0, length, cursor + page);
      }
      cursor += bytesRead;
    }
  };
  for (const range of [...kept].sort((a, b) => a.start - b.start)) {
    await zeroUpTo(range.start);
    cursor = Math.max(cursor, range.start + range.length);
  }
  await zeroUpTo(size);
}

function writeChecksum(buffer: Buffer): void {
  buffer.fill(0, 0, CHECKSUMMED_FROM);
  buffer.writeUInt32LE(checksum(buffer), 0);
}

function collectUuids(block: Buffer, uuids: UuidPins): void {
  uuids.collect(uuidAt(block, HEADER.chunkTreeUuid));
  for (const { type, data } of leafItems(block, unpinnable)) {
    if (type !== ITEM_TYPE.root) continue;
    for (const field of ROOT_ITEM.uuids) uuids.collect(uuidAt(block, data + field));
  }
}

function pinTreeBlock(block: Buffer, uuids: UuidPins, epoch: number): void {
  zeroUnusedTail(block);
  uuids.pin(block, HEADER.chunkTreeUuid);
  if (block[HEADER.level] !== 0) {
    for (let index = 0; index < block.readUInt32LE(HEADER.nritems); index++) {
      const key = HEADER.size + index * KEY_POINTER.size;
      if (isUuidKey(block[key + KEY.type]!)) uuids.pinSplitKey(block, key);
    }
  }
  for (const { type, key, data } of leafItems(block, unpinnable)) {
    if (isUuidKey(type)) uuids.pinSplitKey(block, key);
    if (type === ITEM_TYPE.inode) pinTimes(block, data, INODE_TIMES, epoch, 'all');
    if (type === ITEM_TYPE.root) {
      pinTimes(block, data, ROOT_ITEM.times, epoch, 'set');
      for (const field of ROOT_ITEM.uuids) uuids.pin(block, data + field);
    }
    if (type === ITEM_TYPE.dirItem || type === ITEM_TYPE.dirIndex || type === ITEM_TYPE.xattr)
      pinDirEntries(block, data, key);
    if (type === ITEM_TYPE.devExtent) uuids.pin(block, data + DEV_EXTENT_CHUNK_TREE_UUID);
    if (type === ITEM_TYPE.dev) uuids.pin(block, data + DEV_ITEM_UUID);
    if (type === ITEM_TYPE.chunk) pinChunkStripes(block, data, uuids);
  }
}

const isUuidKey = (type: number) => type === ITEM_TYPE.uuidSubvolume || type === ITEM_TYPE.uuidReceived;

/**
 * A node's key pointers and a leaf's item headers grow from the front, a leaf's item data from the
 * back; what lies between is left over from earlier versions of the block.
 */
function zeroUnusedTail(block: Buffer): void {
  const count = block.readUInt32LE(HEADER.nritems);
  if (block[HEADER.level] !== 0) {
    block.fill(0, HEADER.size + count * KEY_POINTER.size);
    return;
  }
  let dataStart = block.length;
  for (const { data } of leafItems(block, unpinnable)) dataStart = Math.min(dataStart, data);
  block.fill(0, HEADER.size + count * ITEM.size, dataStart);
}

/**
 * mkfs.btrfs 6.2 --rootdir leaves a directory entry's transid uninitialised (it holds whatever was in
 * memory, often a time). The kernel does not read it; it becomes the leaf's generation, a transaction
 * the entry existed in. One item holds several entries when their names' hashes collide.
 */
function pinDirEntries(block: Buffer, data: number, key: number): void {
  const generation = block.readBigUInt64LE(HEADER.generation);
  const end = data + block.readUInt32LE(key + ITEM.dataSize);
  for (let entry = data; entry < end; ) {
    block.writeBigUInt64LE(generation, entry + DIR_ENTRY.transid);
    entry +=
      DIR_ENTRY.size +
      block.readUInt16LE(entry + DIR_ENTRY.nameLength) +
      block.readUInt16LE(entry + DIR_ENTRY.dataLength);
  }
}

function pinChunkStripes(buffer: Buffer, chunk: number, uuids: UuidPins): void {
  for (let index = 0; index < buffer.readUInt16LE(chunk + CHUNK.numStripes); index++) {
    uuids.pin(buffer, chunk + CHUNK.size + index * CHUNK.stripeSize + CHUNK.stripeDevUuid);
  }
}

/**
 * Timestamps are seconds (u64) and nanoseconds (u32). An inode's all become the epoch, like every file
 * of the tree (its atime and ctime cannot be pinned on the host); a root item's unset times stay zero.
 */
function pinTimes(block: Buffer, data: number, fields: number[], epoch: number, which: 'all' | 'set'): void {
  for (const field of fields) {
    if (which === 'set' && block.readBigUInt64LE(data + field) === 0n && block.readUInt32LE(data + field + 8) === 0)
      continue;
    block.writeBigUInt64LE(BigInt(epoch), data + field);
    block.writeUInt32LE(0, data + field + 8);
  }
}

function pinSuperblock(superblock: Buffer, uuids: UuidPins): void {
  // mkfs rewrites the array as chunks come and go; what lies past its current end is left over.
  superblock.fill(
    0,
    SUPER.sysChunkArray + superblock.readUInt32LE(SUPER.sysChunkArraySize),
    SUPER.sysChunkArray + SYS_CHUNK_ARRAY_CAPACITY,
  );
  uuids.pin(superblock, SUPER.devItem + DEV_ITEM_UUID);
  for (const { chunk } of sysChunkArray(superblock, unpinnable)) pinChunkStripes(superblock, chunk, uuids);
  writeChecksum(superblock);
}
