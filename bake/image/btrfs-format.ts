/**
 * btrfs on-disk layout, shared by the writer that pins mkfs.btrfs images (sysext/btrfs-pin.ts) and the
 * offline reader of image partitions (image/btrfs-read.ts). Every parser checks its bounds and reports
 * through the caller's `fail`, so a damaged or hostile block becomes the caller's error, never a RangeError.
 *
 * Layout facts: https://btrfs.readthedocs.io/en/latest/dev/On-disk-format.html
 */
import CRC32C from 'crc-32/crc32c.js';

/** Turns a problem ("tree block 123 is damaged") into the caller's error. */
export type Fail = (problem: string) => Error;

export const SUPERBLOCK_OFFSETS = [0x1_0000, 0x400_0000, 0x40_0000_0000];
export const SUPERBLOCK_SIZE = 4096;
export const MAGIC = Buffer.from('_BHRfS_M');
export const CHECKSUMMED_FROM = 32;
export const SYS_CHUNK_ARRAY_CAPACITY = 2048;
export const CSUM_TYPE_CRC32C = 0;

export const SUPER = {
  fsid: 32,
  magic: 64,
  root: 80,
  chunkRoot: 88,
  sectorsize: 144,
  nodesize: 148,
  sysChunkArraySize: 160,
  csumType: 196,
  rootLevel: 198,
  chunkRootLevel: 199,
  devItem: 201,
  sysChunkArray: 811,
};
export const HEADER = { fsid: 32, bytenr: 48, chunkTreeUuid: 64, generation: 80, nritems: 96, level: 100, size: 101 };
export const KEY = { objectid: 0, type: 8, offset: 9, size: 17 };
export const ITEM = { dataOffset: KEY.size, dataSize: KEY.size + 4, size: KEY.size + 8 };
export const KEY_POINTER = { blockptr: KEY.size, size: KEY.size + 16 };
export const DEV_ITEM_UUID = 66;
export const CHUNK = { type: 24, numStripes: 44, size: 48, stripeSize: 32, stripeOffset: 8, stripeDevUuid: 16 };

export const ITEM_TYPE = {
  inode: 1,
  xattr: 24,
  dirItem: 84,
  dirIndex: 96,
  extentData: 108,
  root: 132,
  extent: 168,
  devExtent: 204,
  dev: 216,
  chunk: 228,
  uuidSubvolume: 251,
  uuidReceived: 252,
};
export const INODE_TIMES = [112, 124, 136, 148];
export const ROOT_ITEM = {
  rootDirid: 168,
  bytenr: 176,
  level: 238,
  uuids: [247, 263, 279],
  times: [...INODE_TIMES, 327, 339, 351, 363],
};
/** A directory entry (dir item, dir index, xattr): the location key, then these fields, the name and the data. */
export const DIR_ENTRY = {
  transid: KEY.size,
  dataLength: KEY.size + 8,
  nameLength: KEY.size + 10,
  size: KEY.size + 13,
};

/** Block group type bits: data 1, system 2, metadata 4, DUP 32; any other bit is a multi-device profile. */
const KNOWN_BLOCK_GROUP_BITS = 0x7n | 0x20n;

export interface Chunk {
  logical: number;
  length: number;
  stripeOffsets: number[];
}

export interface Range {
  start: number;
  length: number;
}

/** A u64 that must fit a JavaScript number (every size and address in a partition does). */
export function readU64(buffer: Buffer, at: number, fail: Fail): number {
  within(buffer, at, 8, fail);
  return safeNumber(buffer.readBigUInt64LE(at), fail);
}

export function safeNumber(value: bigint, fail: Fail): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`holds an absurd value (${value})`);
  return Number(value);
}

/** Refuses a read of `length` bytes at `at` that leaves `buffer`. */
export function within(buffer: Buffer, at: number, length: number, fail: Fail): void {
  if (at < 0 || length < 0 || at + length > buffer.length) throw fail(`has a field past the end of its block`);
}

/** The superblock's copy of the system chunk items: each a key (whose offset is the logical start) and a chunk. */
export function* sysChunkArray(superblock: Buffer, fail: Fail): Generator<{ chunk: number; logical: number }> {
  const size = superblock.readUInt32LE(SUPER.sysChunkArraySize);
  if (size > SYS_CHUNK_ARRAY_CAPACITY) throw fail(`has a system chunk array of ${size} bytes`);
  const end = SUPER.sysChunkArray + size;
  for (let key = SUPER.sysChunkArray; key < end; ) {
    const chunk = key + KEY.size;
    within(superblock, chunk, CHUNK.size, fail);
    const next = chunk + CHUNK.size + superblock.readUInt16LE(chunk + CHUNK.numStripes) * CHUNK.stripeSize;
    if (next > end) throw fail('has a system chunk past the end of its array');
    yield { chunk, logical: readU64(superblock, key + KEY.offset, fail) };
    key = next;
  }
}

/** A chunk item at `offset`, single or DUP (one device); anything else is refused. */
export function parseChunk(buffer: Buffer, offset: number, logical: number, fail: Fail): Chunk {
  within(buffer, offset, CHUNK.size, fail);
  if ((buffer.readBigUInt64LE(offset + CHUNK.type) & ~KNOWN_BLOCK_GROUP_BITS) !== 0n)
    throw fail('uses a multi-device profile (only single and DUP are read)');
  const stripes = buffer.readUInt16LE(offset + CHUNK.numStripes);
  if (stripes < 1 || stripes > 2) throw fail(`has a chunk with ${stripes} stripes`);
  within(buffer, offset + CHUNK.size, stripes * CHUNK.stripeSize, fail);
  const stripeOffsets = Array.from({ length: stripes }, (_, index) =>
    readU64(buffer, offset + CHUNK.size + index * CHUNK.stripeSize + CHUNK.stripeOffset, fail),
  );
  return { logical, length: readU64(buffer, offset, fail), stripeOffsets };
}

/** Where a logical range lies on the device: once per stripe (twice for DUP). */
export function physicalRanges(chunks: readonly Chunk[], range: Range, fail: Fail): Range[] {
  const chunk = chunks.find(
    (candidate) =>
      range.start >= candidate.logical && range.start + range.length <= candidate.logical + candidate.length,
  );
  if (!chunk) throw fail(`has an extent at ${range.start} outside every chunk`);
  return chunk.stripeOffsets.map((stripe) => ({ start: stripe + range.start - chunk.logical, length: range.length }));
}

export function checksum(buffer: Buffer): number {
  return CRC32C.buf(buffer.subarray(CHECKSUMMED_FROM)) >>> 0;
}

/** How many entries a block says it holds, refused when more than its size can. */
function itemCount(block: Buffer, entrySize: number, fail: Fail): number {
  const count = block.readUInt32LE(HEADER.nritems);
  if (HEADER.size + count * entrySize > block.length) throw fail(`has a tree block claiming ${count} items`);
  return count;
}

/** A leaf's items: type, where the key is, where the data is and its size. Internal nodes have none. */
export function* leafItems(
  block: Buffer,
  fail: Fail,
): Generator<{ type: number; key: number; data: number; size: number }> {
  if (block[HEADER.level] !== 0) return;
  const count = itemCount(block, ITEM.size, fail);
  const itemsEnd = HEADER.size + count * ITEM.size;
  for (let index = 0; index < count; index++) {
    const key = HEADER.size + index * ITEM.size;
    const data = HEADER.size + block.readUInt32LE(key + ITEM.dataOffset);
    const size = block.readUInt32LE(key + ITEM.dataSize);
    if (data < itemsEnd || data + size > block.length) throw fail('has a tree item whose data leaves its block');
    yield { type: block[key + KEY.type]!, key, data, size };
  }
}

/** A node's key pointers: where each key is and the logical address of the block it leads to. */
export function* keyPointers(block: Buffer, fail: Fail): Generator<{ key: number; blockptr: number }> {
  if (block[HEADER.level] === 0) return;
  const count = itemCount(block, KEY_POINTER.size, fail);
  for (let index = 0; index < count; index++) {
    const key = HEADER.size + index * KEY_POINTER.size;
    yield { key, blockptr: readU64(block, key + KEY_POINTER.blockptr, fail) };
  }
}
