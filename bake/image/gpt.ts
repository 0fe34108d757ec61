/**
 * Reads a GPT straight from the image file: no loop device, no partition-table support in the kernel
 * (this CI host has none), no root. Enough to find Flatcar's partitions by number and check their labels.
 */
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { inputError } from '../core/errors.ts';

export const SECTOR = 512;

/** Where a filesystem lies in its file. */
export type ByteRange = Pick<GptPartition, 'offsetBytes' | 'sizeBytes'>;

export interface GptPartition {
  number: number;
  label: string;
  typeGuid: string;
  partGuid: string;
  firstLba: bigint;
  lastLba: bigint;
  attributes: bigint;
  offsetBytes: number;
  sizeBytes: number;
}

export interface GptTable {
  diskGuid: string;
  partitions: GptPartition[];
  /** The first LBA a partition may use (the primary GPT sits before it). */
  firstUsableLba: bigint;
  /** The last LBA a partition may use (the backup GPT sits after it). */
  lastUsableLba: bigint;
}

/** GUIDs are stored mixed-endian: the first three fields little-endian, the rest as bytes. */
export function formatGuid(bytes: Buffer): string {
  const hex = (b: Buffer) => b.toString('hex');
  const le = (start: number, length: number) => hex(Buffer.from(bytes.subarray(start, start + length)).reverse());
  return `${le(0, 4)}-${le(4, 2)}-${le(6, 2)}-${hex(bytes.subarray(8, 10))}-${hex(bytes.subarray(10, 16))}`;
}

/** The most partition-entry bytes a header may claim: 128 entries of 128 bytes is the norm, this is 64 times that. */
const MAX_ENTRY_BYTES = 1 << 20;
/** 512 TiB: beyond any image bake reads, and within the integers a file offset can be. */
const MAX_LBA = 1n << 40n;

/**
 * The primary GPT. Its header and entry array are checked as systemd and libblkid check them (signature,
 * sizes, both CRC32s, the array inside the file) before anything in them is used, so a hostile image gets
 * a one-line refusal instead of a huge allocation or partitions read from the wrong bytes.
 */
export async function readGpt(imagePath: string): Promise<GptTable> {
  const file = await open(imagePath, 'r');
  try {
    const header = Buffer.alloc(SECTOR);
    await file.read(header, 0, SECTOR, SECTOR);
    if (header.toString('latin1', 0, 8) !== 'EFI PART') {
      throw inputError(`${imagePath} has no GPT partition table`, 'is this a Flatcar disk image?');
    }
    const { entriesLba, entryCount, entrySize } = checkHeader(header, imagePath);
    const entries = Buffer.alloc(entryCount * entrySize);
    const { bytesRead } = await file.read(entries, 0, entries.length, Number(entriesLba) * SECTOR);
    if (bytesRead !== entries.length || crc32(entries) !== header.readUInt32LE(88))
      throw badGpt(imagePath, 'its partition entries are cut short or fail their CRC32');
    const partitions: GptPartition[] = [];
    for (let index = 0; index < entryCount; index++) {
      const entry = entries.subarray(index * entrySize, (index + 1) * entrySize);
      const typeGuid = formatGuid(entry.subarray(0, 16));
      if (typeGuid === '00000000-0000-0000-0000-000000000000') continue;
      const firstLba = entry.readBigUInt64LE(32);
      const lastLba = entry.readBigUInt64LE(40);
      partitions.push({
        number: index + 1,
        typeGuid,
        partGuid: formatGuid(entry.subarray(16, 32)),
        firstLba,
        lastLba,
        attributes: entry.readBigUInt64LE(48),
        label: entry.toString('utf16le', 56, 128).replace(/\0.*$/s, ''),
        offsetBytes: Number(firstLba) * SECTOR,
        sizeBytes: Number(lastLba - firstLba + 1n) * SECTOR,
      });
    }
    return {
      diskGuid: formatGuid(header.subarray(56, 72)),
      partitions,
      firstUsableLba: header.readBigUInt64LE(40),
      lastUsableLba: header.readBigUInt64LE(48),
    };
  } finally {
    await file.close();
  }
}

const badGpt = (imagePath: string, what: string) =>
  inputError(`${imagePath} has a damaged GPT: ${what}`, 'rebuild the image, or check that it was copied whole');

function checkHeader(header: Buffer, imagePath: string): { entriesLba: bigint; entryCount: number; entrySize: number } {
  const headerSize = header.readUInt32LE(12);
  if (headerSize < 92 || headerSize > SECTOR) throw badGpt(imagePath, `its header claims ${headerSize} bytes`);
  const sealed = Buffer.from(header.subarray(0, headerSize));
  sealed.writeUInt32LE(0, 16);
  if (crc32(sealed) !== header.readUInt32LE(16)) throw badGpt(imagePath, 'its header fails its CRC32');
  const entriesLba = header.readBigUInt64LE(72);
  const entryCount = header.readUInt32LE(80);
  const entrySize = header.readUInt32LE(84);
  if (
    entrySize < 128 ||
    entrySize % 8 !== 0 ||
    entryCount * entrySize > MAX_ENTRY_BYTES ||
    entriesLba < 2n ||
    entriesLba > MAX_LBA
  )
    throw badGpt(imagePath, `${entryCount} entries of ${entrySize} bytes at sector ${entriesLba}`);
  return { entriesLba, entryCount, entrySize };
}

/**
 * The disk's size as its primary GPT header claims it (the backup header sits in the last sector), read
 * from the first 1 KiB of an image still being written; undefined until those bytes carry a GPT. Only a
 * progress line's "of N" rests on it: the header is not trusted for anything else.
 */
export async function claimedDiskBytes(imagePath: string): Promise<number | undefined> {
  const file = await open(imagePath, 'r').catch(() => undefined);
  if (!file) return undefined;
  try {
    const header = Buffer.alloc(SECTOR);
    const { bytesRead } = await file.read(header, 0, SECTOR, SECTOR);
    if (bytesRead < SECTOR || header.toString('latin1', 0, 8) !== 'EFI PART') return undefined;
    const bytes = (Number(header.readBigUInt64LE(32)) + 1) * SECTOR;
    return Number.isSafeInteger(bytes) ? bytes : undefined;
  } finally {
    await file.close();
  }
}

/** Flatcar's partitions bake writes to, with the label each must carry (docs/flatcar-facts.md §1). */
export const FLATCAR_PARTITIONS = {
  oem: { number: 6, label: 'OEM', fstype: 'btrfs' },
  root: { number: 9, label: 'ROOT', fstype: 'ext4' },
} as const;

export type PartitionName = keyof typeof FLATCAR_PARTITIONS;

export function findPartition(table: GptTable, name: PartitionName, imagePath: string): GptPartition {
  const expected = FLATCAR_PARTITIONS[name];
  const partition = table.partitions.find((p) => p.number === expected.number);
  if (!partition)
    throw inputError(
      `${imagePath} has no partition ${expected.number} (${expected.label})`,
      'is this a Flatcar disk image?',
    );
  if (partition.label !== expected.label) {
    throw inputError(
      `partition ${expected.number} of ${imagePath} is labelled '${partition.label}', expected '${expected.label}'`,
      'is this a Flatcar disk image?',
    );
  }
  return partition;
}
