/**
 * One zstd frame from a hostile filesystem, decompressed by the zstd tool (node 20's zlib has no zstd).
 * btrfs pads a compressed extent to its sector, and the tool refuses padding as "unsupported format", so
 * the frame's end is found first by walking its block headers; the walk also bounds what the frame can
 * decompress to, so a tiny extent cannot make the tool write gigabytes.
 *
 * Format: RFC 8878 §3.1.1.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Runner } from '../core/exec.ts';
import type { Fail } from './btrfs-format.ts';

const FRAME_MAGIC = 0xfd2fb528;
const MAX_BLOCK = 128 * 1024;
const BLOCK_HEADER = 3;
const CHECKSUM = 4;
const BLOCK_TYPE = { raw: 0, rle: 1, compressed: 2 };
const FCS_SIZES = [0, 2, 4, 8];

let outputs = 0;

/** Decompresses the zstd frame at the start of `data`; refused when it could exceed `maxOutput` bytes. */
export async function decompressZstdFrame(
  run: Runner,
  scratch: string,
  data: Buffer,
  maxOutput: number,
  fail: Fail,
): Promise<Buffer> {
  const end = frameEnd(data, maxOutput, fail);
  const output = join(scratch, `zstd-${process.pid}-${outputs++}`);
  try {
    await run.run('zstd', ['--decompress', '--quiet', '--stdout'], {
      input: data.subarray(0, end),
      stdoutFile: output,
      readOnly: true,
      why: 'read zstd-compressed files in the image',
    });
    return await readFile(output);
  } finally {
    await rm(output, { force: true });
  }
}

/** Where the frame ends, once its header and block headers promise no more than `maxOutput` bytes. */
function frameEnd(data: Buffer, maxOutput: number, fail: Fail): number {
  const header = frameHeader(data, fail);
  let at = header.end;
  let promised = 0;
  for (let last = false; !last; ) {
    if (at + BLOCK_HEADER > data.length) throw fail('has a zstd frame cut short');
    const word = data.readUIntLE(at, BLOCK_HEADER);
    const [type, size] = [(word >> 1) & 3, word >>> 3];
    last = (word & 1) === 1;
    if (type > BLOCK_TYPE.compressed || size > header.blockMax) throw fail('has a damaged zstd block');
    promised += type === BLOCK_TYPE.compressed ? header.blockMax : size;
    if (promised > maxOutput) throw fail(`has a zstd frame that could decompress to more than ${maxOutput} bytes`);
    at += BLOCK_HEADER + (type === BLOCK_TYPE.rle ? 1 : size);
  }
  at += header.checksum ? CHECKSUM : 0;
  if (at > data.length) throw fail('has a zstd frame cut short');
  return at;
}

/** The frame header's size, whether a checksum ends the frame, and the largest block it allows. */
function frameHeader(data: Buffer, fail: Fail): { end: number; checksum: boolean; blockMax: number } {
  if (data.length < 6 || data.readUInt32LE(0) !== FRAME_MAGIC) throw fail('has compressed data that is not zstd');
  const descriptor = data[4]!;
  const singleSegment = (descriptor & 0x20) !== 0;
  if ((descriptor & 0x0b) !== 0) throw fail('has a zstd frame with a dictionary or reserved bits');
  const fcsSize = FCS_SIZES[descriptor >> 6]! || (singleSegment ? 1 : 0);
  const end = 5 + (singleSegment ? 0 : 1) + fcsSize;
  if (end > data.length) throw fail('has a zstd frame cut short');
  const window = singleSegment ? contentSize(data, 5, fcsSize) : windowSize(data[5]!);
  return { end, checksum: (descriptor & 0x04) !== 0, blockMax: Math.min(window, MAX_BLOCK) };
}

function windowSize(descriptor: number): number {
  const base = 2 ** (10 + (descriptor >> 3));
  return base + (base / 8) * (descriptor & 7);
}

function contentSize(data: Buffer, at: number, size: number): number {
  if (size === 8) return Number(data.readBigUInt64LE(at));
  return data.readUIntLE(at, size) + (size === 2 ? 256 : 0);
}
