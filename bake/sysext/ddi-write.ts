/**
 * Writes a sysext as a Discoverable Disk Image, natively and as an ordinary user (no loop device, no
 * mount): the payload filesystem, its dm-verity hash tree from `veritysetup format` on plain files, an
 * optional signature partition, and a GPT from one sgdisk call, laid out as `systemd-repart
 * --make-ddi=sysext` lays it out. Every identifier is derived from the content, so the same payload (and
 * key) gives the same bytes.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Context } from '../context.ts';
import type { Arch } from '../core/arch.ts';
import { sha256File } from '../core/checksums.ts';
import { inputError, toolError } from '../core/errors.ts';
import { SECTOR } from '../image/gpt.ts';
import {
  DDI_PARTITION_TYPES,
  DDI_READ_ONLY_ROLES,
  DDI_SIGNATURE_PARTITION_BYTES,
  DDI_VERITY,
  type DdiPartitionRole,
  type DdiSignature,
  ddiPartitionLabel,
  GPT_READ_ONLY_BIT,
  verityPartitionUuids,
} from './ddi-layout.ts';
import { type CheckedDdi, type CheckedSigning, signRootHash } from './ddi-signing.ts';

/** Partitions start after the primary GPT (sectors 0-33) on the next 4 KiB boundary, as systemd-repart's do. */
const FIRST_SECTOR = 40;
/** The backup GPT after the last partition: 32 sectors of entries and the header. */
const BACKUP_GPT_SECTORS = 33;
const ALIGNMENT = 4096;

export interface DdiPartition {
  role: DdiPartitionRole;
  firstSector: number;
  sectors: number;
}

export interface DdiLayout {
  partitions: DdiPartition[];
  diskBytes: number;
}

const roundUp = (value: number, step: number) => Math.ceil(value / step) * step;

/** Partitions back to back in role order; sizes are multiples of 4 KiB, so every one stays aligned. */
export function ddiLayout(sizes: ReadonlyArray<{ role: DdiPartitionRole; bytes: number }>): DdiLayout {
  let next = FIRST_SECTOR;
  const partitions = sizes.map(({ role, bytes }) => {
    const partition = { role, firstSector: next, sectors: roundUp(bytes, ALIGNMENT) / SECTOR };
    next += partition.sectors;
    return partition;
  });
  return { partitions, diskBytes: roundUp((next + BACKUP_GPT_SECTORS) * SECTOR, ALIGNMENT) };
}

/**
 * A UUID for `purpose` from `input`, shaped as a version 4 UUID (systemd's id128_make_v4_uuid does the
 * same to its derived IDs): random-looking, yet the same for the same content.
 */
export function derivedUuid(purpose: string, input: string): string {
  const bytes = createHash('sha256').update(`bake ddi ${purpose}\n${input}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The one sgdisk call that writes the whole table: types, labels, UUIDs, read-only flags, disk GUID. */
export function sgdiskArgs(arch: Arch, layout: DdiLayout, rootHash: string): string[] {
  const verity = verityPartitionUuids(rootHash);
  const uuids: Record<DdiPartitionRole, string> = {
    root: verity.data,
    'root-verity': verity.hash,
    'root-verity-sig': derivedUuid('signature partition', rootHash),
  };
  const perPartition = layout.partitions.flatMap(({ role, firstSector, sectors }, index) => {
    const number = index + 1;
    const readOnly = DDI_READ_ONLY_ROLES.includes(role) ? [`--attributes=${number}:set:${GPT_READ_ONLY_BIT}`] : [];
    return [
      `--new=${number}:${firstSector}:${firstSector + sectors - 1}`,
      `--typecode=${number}:${DDI_PARTITION_TYPES[arch][role]}`,
      `--partition-guid=${number}:${uuids[role]}`,
      `--change-name=${number}:${ddiPartitionLabel(arch, role)}`,
      ...readOnly,
    ];
  });
  // Alignment 8 sectors (4 KiB): sgdisk's default of 2048 would move the first partition to 1 MiB.
  return ['--set-alignment=8', `--disk-guid=${derivedUuid('disk', rootHash)}`, ...perPartition];
}

/** The signature partition's bytes: compact JSON as systemd-repart writes it, NUL-padded to 16 KiB. */
export function signaturePartition(signature: DdiSignature): Buffer {
  const json = Buffer.from(JSON.stringify(signature));
  if (json.length >= DDI_SIGNATURE_PARTITION_BYTES)
    throw inputError(
      `the signature of the root hash takes ${json.length} bytes, more than the ${DDI_SIGNATURE_PARTITION_BYTES}-byte partition holds`,
      'sign with a smaller key and certificate',
    );
  const partition = Buffer.alloc(DDI_SIGNATURE_PARTITION_BYTES);
  json.copy(partition);
  return partition;
}

export interface DdiJob {
  arch: Arch;
  /** The payload filesystem image; padded in place to whole 4 KiB blocks. */
  payload: string;
  output: string;
  /** Scratch directory owned by the caller. */
  scratch: string;
  ddi: CheckedDdi;
}

/** Writes the DDI to `job.output`; returns the root hash. */
export async function writeDdi(ctx: Context, job: DdiJob): Promise<string> {
  const payloadBytes = roundUp((await stat(job.payload)).size, DDI_VERITY.dataBlockSize);
  // dm-verity covers whole blocks only: a partial last block would be left unprotected.
  await truncate(job.payload, payloadBytes);
  const { hashTree, rootHash } = await formatVerity(ctx, job.payload, job.scratch);
  const signature = job.ddi.signing && (await signaturePartitionFor(ctx, job.ddi.signing, rootHash, job.scratch));
  const layout = ddiLayout([
    { role: 'root', bytes: payloadBytes },
    { role: 'root-verity', bytes: (await stat(hashTree)).size },
    ...(signature ? [{ role: 'root-verity-sig' as const, bytes: signature.length }] : []),
  ]);
  await writeFile(job.output, '');
  await truncate(job.output, layout.diskBytes);
  await ctx.run.run('sgdisk', [...sgdiskArgs(job.arch, layout, rootHash), job.output], {
    why: 'write the partition table of verity sysexts',
  });
  const [root, hash, sig] = layout.partitions;
  await copyInto(job.payload, job.output, root!.firstSector * SECTOR);
  await copyInto(hashTree, job.output, hash!.firstSector * SECTOR);
  if (signature) await writeAt(job.output, sig!.firstSector * SECTOR, signature);
  return rootHash;
}

/**
 * `veritysetup format` on two plain files (it needs no device for that). Salt and superblock UUID are
 * derived from the payload's digest: random ones would make every build unique.
 */
async function formatVerity(
  ctx: Context,
  payload: string,
  scratch: string,
): Promise<{ hashTree: string; rootHash: string }> {
  const digest = await sha256File(payload);
  const [hashTree, rootHashFile] = [join(scratch, 'verity-hash'), join(scratch, 'verity-root-hash')];
  await writeFile(hashTree, '');
  const salt = createHash('sha256').update(`bake ddi verity salt\n${digest}`).digest('hex');
  const parameters = [
    `--hash=${DDI_VERITY.hashAlgorithm}`,
    `--data-block-size=${DDI_VERITY.dataBlockSize}`,
    `--hash-block-size=${DDI_VERITY.hashBlockSize}`,
    `--salt=${salt}`,
    `--uuid=${derivedUuid('verity superblock', digest)}`,
    `--root-hash-file=${rootHashFile}`,
  ];
  await ctx.run.run('veritysetup', ['format', ...parameters, payload, hashTree], {
    why: 'build the dm-verity hash tree of verity sysexts',
  });
  const rootHash = (await readFile(rootHashFile, 'utf8')).trim();
  if (!/^[0-9a-f]{64}$/.test(rootHash)) throw toolError(`veritysetup wrote an unexpected root hash '${rootHash}'`);
  return { hashTree, rootHash };
}

async function signaturePartitionFor(
  ctx: Context,
  signing: CheckedSigning,
  rootHash: string,
  scratch: string,
): Promise<Buffer> {
  const pkcs7 = await signRootHash(ctx, signing, rootHash, scratch);
  return signaturePartition({
    rootHash,
    certificateFingerprint: signing.certificateFingerprint,
    signature: pkcs7.toString('base64'),
  });
}

async function copyInto(source: string, target: string, offset: number): Promise<void> {
  await pipeline(createReadStream(source), createWriteStream(target, { flags: 'r+', start: offset }));
}

async function writeAt(target: string, offset: number, bytes: Buffer): Promise<void> {
  const file = await open(target, 'r+');
  try {
    await file.write(bytes, 0, bytes.length, offset);
  } finally {
    await file.close();
  }
}
