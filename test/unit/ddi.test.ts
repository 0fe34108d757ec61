/**
 * The DDI reader's pure parts and its refusals of hostile layouts, on synthetic images written here (a
 * GPT with whatever entries a test wants, a payload magic, a verity superblock): the tree geometry as
 * cryptsetup lays it out, the superblock checks, the partition-type table, and the GPT and layout checks
 * that run before any hashing. Real DDIs from systemd-repart are in test/integration/sysext-ddi-verify.
 */

import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { type TempDir, tempDir } from '../../bake/core/cleanup.ts';
import { type ErrorKind, isBakeError } from '../../bake/core/errors.ts';
import { readGpt } from '../../bake/image/gpt.ts';
import { inspectDdi } from '../../bake/sysext/ddi.ts';
import { DDI_PARTITION_TYPES, ddiPartitionRole } from '../../bake/sysext/ddi-layout.ts';
import { levelSizes, parseVeritySuperblock, treeBytes } from '../../bake/sysext/verity-tree.ts';
import { guidBytes } from '../support/fixtures/repart-ddi.ts';

let work: TempDir;
let count = 0;
before(async () => {
  work = await tempDir('bake-ddi-unit');
});
after(() => work?.[Symbol.asyncDispose]());

const X86 = DDI_PARTITION_TYPES['x86-64'];
const MiB = 1 << 20;

interface Entry {
  type: string;
  first: number;
  last: number;
}

function superblock(fields: { algorithm?: string; dataBlocks?: bigint; saltSize?: number } = {}): Buffer {
  const block = Buffer.alloc(512);
  block.write('verity\0\0', 0, 'latin1');
  block.writeUInt32LE(1, 8);
  block.writeUInt32LE(1, 12);
  block.write(fields.algorithm ?? 'sha256', 32, 'latin1');
  block.writeUInt32LE(4096, 64);
  block.writeUInt32LE(4096, 68);
  block.writeBigUInt64LE(fields.dataBlocks ?? 1n, 72);
  block.writeUInt16LE(fields.saltSize ?? 32, 80);
  return block;
}

/** A disk of `bytes` with a primary GPT holding `entries` (CRCs sealed), a squashfs magic and a superblock. */
async function syntheticDdi(entries: Entry[], bytes = 8 * MiB): Promise<string> {
  const image = join(work.path, `synthetic-${count++}.raw`);
  const file = await open(image, 'w+');
  await file.truncate(bytes);
  const array = Buffer.alloc(128 * 128);
  entries.forEach((entry, index) => {
    const at = index * 128;
    guidBytes(entry.type).copy(array, at);
    guidBytes(`0000000${index}-0000-0000-0000-000000000000`).copy(array, at + 16);
    array.writeBigUInt64LE(BigInt(entry.first), at + 32);
    array.writeBigUInt64LE(BigInt(entry.last), at + 40);
  });
  const header = Buffer.alloc(512);
  header.write('EFI PART', 0, 'latin1');
  header.writeUInt32LE(0x10000, 8);
  header.writeUInt32LE(92, 12);
  header.writeBigUInt64LE(1n, 24);
  header.writeBigUInt64LE(BigInt(bytes / 512 - 1), 32);
  header.writeBigUInt64LE(34n, 40);
  header.writeBigUInt64LE(BigInt(bytes / 512 - 34), 48);
  header.writeBigUInt64LE(2n, 72);
  header.writeUInt32LE(128, 80);
  header.writeUInt32LE(128, 84);
  header.writeUInt32LE(crc32(array), 88);
  header.writeUInt32LE(crc32(header.subarray(0, 92)), 16);
  await file.write(header, 0, 512, 512);
  await file.write(array, 0, array.length, 1024);
  const root = entries.find((entry) => entry.type === X86.root);
  const verity = entries.find((entry) => entry.type === X86['root-verity']);
  // Never onto the table itself (a test may place a partition there).
  if (root && root.first >= 34) await file.write(Buffer.from('hsqs'), 0, 4, root.first * 512);
  if (verity) await file.write(superblock(), 0, 512, verity.first * 512);
  await file.close();
  return image;
}

const ROOT: Entry = { type: X86.root, first: 2048, last: 4095 };
const VERITY: Entry = { type: X86['root-verity'], first: 4096, last: 4103 };

async function assertRefused(promise: Promise<unknown>, kind: ErrorKind, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error) => {
    assert.ok(isBakeError(error), String(error));
    assert.equal(error.kind, kind, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

test('the hash tree has the levels cryptsetup lays out: 128 digests per 4 KiB block, up to one block', () => {
  assert.deepEqual(levelSizes(1), []);
  assert.deepEqual(levelSizes(2), [1]);
  assert.deepEqual(levelSizes(128), [1]);
  assert.deepEqual(levelSizes(129), [2, 1]);
  assert.deepEqual(levelSizes(23041), [181, 2, 1]);
  assert.equal(treeBytes(23041), (1 + 181 + 2 + 1) * 4096);
});

test('partition types map to their role and architecture, whatever the case; others to nothing', () => {
  assert.deepEqual(ddiPartitionRole(X86['root-verity-sig'].toUpperCase()), { arch: 'x86-64', role: 'root-verity-sig' });
  assert.deepEqual(ddiPartitionRole(DDI_PARTITION_TYPES.arm64.root), { arch: 'arm64', role: 'root' });
  // The usr partition type of x86-64: a DDI layout bake does not read.
  assert.equal(ddiPartitionRole('8484680c-9521-48c6-9c11-b0720656f69e'), undefined);
});

test('a verity superblock must be the format systemd-repart writes', () => {
  assert.deepEqual(parseVeritySuperblock(superblock({ dataBlocks: 7n }), 'x').dataBlocks, 7);
  const malformed = [
    Buffer.alloc(512),
    superblock({ algorithm: 'sha1' }),
    superblock({ saltSize: 300 }),
    superblock({ dataBlocks: 0n }),
    superblock({ dataBlocks: 1n << 60n }),
  ];
  for (const block of malformed)
    assert.throws(
      () => parseVeritySuperblock(block, 'x'),
      (error) => isBakeError(error) && error.kind === 'input',
    );
});

test('a GPT header asking for a huge entry array or failing its CRC is refused before it is used', async () => {
  const image = await syntheticDdi([ROOT, VERITY]);
  const file = await open(image, 'r+');
  const header = Buffer.alloc(512);
  await file.read(header, 0, 512, 512);
  header.writeUInt32LE(0xffffffff, 80);
  header.writeUInt32LE(0, 16);
  header.writeUInt32LE(crc32(header.subarray(0, 92)), 16);
  await file.write(header, 0, 512, 512);
  await file.close();
  await assertRefused(readGpt(image), 'input', /damaged GPT: 4294967295 entries/);
  const unsealed = await syntheticDdi([ROOT, VERITY]);
  const again = await open(unsealed, 'r+');
  await again.write(Buffer.from([1]), 0, 1, 512 + 40);
  await again.close();
  await assertRefused(readGpt(unsealed), 'input', /header fails its CRC32/);
});

test('a well-formed synthetic layout is read; the reader reports its parts', async () => {
  const info = await inspectDdi(await syntheticDdi([ROOT, VERITY]));
  assert.equal(info.arch, 'x86-64');
  assert.deepEqual([info.payload.offset, info.payload.size, info.payload.format], [2048 * 512, 2048 * 512, 'squashfs']);
  assert.deepEqual([info.hash.offset, info.signature], [4096 * 512, undefined]);
});

test('layouts systemd would not dissect as a sysext are refused (exit 3)', async () => {
  const SIG = (first: number, last: number): Entry => ({ type: X86['root-verity-sig'], first, last });
  const cases: Array<[Entry[], RegExp]> = [
    [[ROOT], /needs a root and a root-verity partition/],
    [[{ ...ROOT, first: 2 }, VERITY], /outside the disk's usable space/],
    [[ROOT, { ...VERITY, last: 4000 }], /outside the disk's usable space/],
    [[ROOT, { ...VERITY, first: 4000 }], /overlap/],
    [[ROOT, VERITY, { ...ROOT, first: 5000, last: 5100 }], /more than one root partition/],
    [[ROOT, { ...VERITY, type: DDI_PARTITION_TYPES.arm64['root-verity'] }], /different architectures/],
    [[ROOT, VERITY, SIG(6000, 6000 + (5 * MiB) / 512)], /signature partition is 5243392 bytes/],
    [[ROOT, VERITY, SIG(6000, 6031)], /does not hold JSON/],
  ];
  for (const [entries, pattern] of cases)
    await assertRefused(inspectDdi(await syntheticDdi(entries, 16 * MiB)), 'input', pattern);
});

test('a payload that is no filesystem bake knows is refused', async () => {
  const image = await syntheticDdi([ROOT, VERITY]);
  const file = await open(image, 'r+');
  await file.write(Buffer.from('junk'), 0, 4, ROOT.first * 512);
  await file.close();
  await assertRefused(inspectDdi(image), 'input', /holds no squashfs, erofs, ext4 or btrfs filesystem/);
});
