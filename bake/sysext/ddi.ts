/**
 * Reading a sysext DDI (ddi-layout.ts) the way systemd-dissect will, before bake trusts anything in it:
 * the GPT, the three partitions by type, the dm-verity superblock and the signature JSON. Every offset
 * and size is checked against the file, and nothing else may sit in the table, so what bake checks is
 * what systemd mounts. Malformed images are input errors (3); a payload that does not match its hash tree
 * or root hash, or a signature that does not verify, is a verify error (6).
 */
import { type FileHandle, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import type { Arch } from '../core/arch.ts';
import { tempDir } from '../core/cleanup.ts';
import { inputError, verifyError } from '../core/errors.ts';
import { type GptPartition, readGpt, SECTOR } from '../image/gpt.ts';
import { detectFormat, type SysextFormat } from '../image/sysext-file.ts';
import {
  DDI_PARTITION_TYPES,
  DDI_SIGNATURE_PARTITION_MAX_BYTES,
  type DdiPartitionRole,
  type DdiSignature,
  ddiPartitionRole,
  verityPartitionUuids,
} from './ddi-layout.ts';
import { type SignedBy, type VerifyingCert, verifyRootHashSignature } from './ddi-signature.ts';
import {
  computeVerifiedRootHash,
  type FileRange,
  parseVeritySuperblock,
  type VeritySuperblock,
} from './verity-tree.ts';

export interface DdiPartition extends FileRange {
  number: number;
  uuid: string;
}

export interface DdiInfo {
  image: string;
  arch: Arch;
  payload: DdiPartition & { format: SysextFormat };
  hash: DdiPartition;
  superblock: VeritySuperblock;
  /** The signature partition's JSON; absent for an unsigned DDI. */
  signature?: DdiSignature;
}

export interface DdiVerdict {
  rootHash: string;
  /** The given certificate the signature verified against; absent when unsigned or no certificate was given. */
  signedBy?: SignedBy;
}

const HEX_HASH = /^[0-9a-f]{64}$/;

/** A GPT where a bare filesystem has its own superblock: systemd dissects such a file as a disk image. */
export async function isDdi(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const magic = Buffer.alloc(8);
    const { bytesRead } = await file.read(magic, 0, 8, SECTOR);
    return bytesRead === 8 && magic.toString('latin1') === 'EFI PART';
  } finally {
    await file.close();
  }
}

const malformed = (image: string, what: string) =>
  inputError(
    `${image} is not a valid sysext DDI: ${what}`,
    'rebuild it with systemd-repart or bake sysext pack --verity',
  );

export async function inspectDdi(image: string): Promise<DdiInfo> {
  const fileBytes = BigInt((await stat(image)).size);
  const table = await readGpt(image);
  const byRole = new Map<DdiPartitionRole, GptPartition>();
  const arches = new Set<Arch>();
  for (const partition of table.partitions) {
    const known = ddiPartitionRole(partition.typeGuid);
    if (!known)
      throw malformed(
        image,
        `partition ${partition.number} has type ${partition.typeGuid}, not a root, root-verity or root-verity-sig type of ${Object.keys(DDI_PARTITION_TYPES).join(' or ')}`,
      );
    if (byRole.has(known.role)) throw malformed(image, `it has more than one ${known.role} partition`);
    checkBounds(image, partition, table.firstUsableLba, table.lastUsableLba, fileBytes);
    byRole.set(known.role, partition);
    arches.add(known.arch);
  }
  checkNoOverlap(image, [...byRole.values()]);
  if (arches.size > 1) throw malformed(image, 'its partitions are for different architectures');
  const root = byRole.get('root');
  const verity = byRole.get('root-verity');
  if (!root || !verity) throw malformed(image, 'it needs a root and a root-verity partition');
  const file = await open(image, 'r');
  try {
    const format = await detectFormat(image, root.offsetBytes);
    if (!format) throw malformed(image, 'its root partition holds no squashfs, erofs, ext4 or btrfs filesystem');
    const superblock = parseVeritySuperblock(await readAt(file, verity.offsetBytes, 512), `${image} root-verity`);
    const sig = byRole.get('root-verity-sig');
    return {
      image,
      arch: [...arches][0]!,
      payload: { ...partitionRange(root), format },
      hash: partitionRange(verity),
      superblock,
      ...(sig ? { signature: await readSignature(image, file, sig) } : {}),
    };
  } finally {
    await file.close();
  }
}

function partitionRange(partition: GptPartition): DdiPartition {
  return {
    number: partition.number,
    uuid: partition.partGuid,
    offset: partition.offsetBytes,
    size: partition.sizeBytes,
  };
}

function checkBounds(image: string, partition: GptPartition, first: bigint, last: bigint, fileBytes: bigint): void {
  const { firstLba, lastLba, number } = partition;
  if (firstLba < first || lastLba < firstLba || lastLba > last || (lastLba + 1n) * BigInt(SECTOR) > fileBytes)
    throw malformed(image, `partition ${number} (sectors ${firstLba}-${lastLba}) lies outside the disk's usable space`);
}

function checkNoOverlap(image: string, partitions: GptPartition[]): void {
  const sorted = [...partitions].sort((a, b) => (a.firstLba < b.firstLba ? -1 : 1));
  for (let index = 1; index < sorted.length; index++) {
    if (sorted[index]!.firstLba <= sorted[index - 1]!.lastLba)
      throw malformed(image, `partitions ${sorted[index - 1]!.number} and ${sorted[index]!.number} overlap`);
  }
}

async function readAt(file: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await file.read(buffer, 0, length, offset);
  return buffer.subarray(0, bytesRead);
}

/** The JSON as systemd reads it: up to the first NUL, which only NULs may follow. */
async function readSignature(image: string, file: FileHandle, partition: GptPartition): Promise<DdiSignature> {
  if (partition.sizeBytes > DDI_SIGNATURE_PARTITION_MAX_BYTES)
    throw malformed(image, `its signature partition is ${partition.sizeBytes} bytes (systemd reads at most 4 MiB)`);
  const bytes = await readAt(file, partition.offsetBytes, partition.sizeBytes);
  const end = bytes.indexOf(0);
  if (end !== -1 && bytes.subarray(end).some((byte) => byte !== 0))
    throw malformed(image, 'its signature partition has data after the NUL padding');
  let json: unknown;
  try {
    json = JSON.parse(bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8'));
  } catch {
    throw malformed(image, 'its signature partition does not hold JSON');
  }
  return signatureFields(image, json);
}

function signatureFields(image: string, json: unknown): DdiSignature {
  const fields = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  const { rootHash, signature, certificateFingerprint } = fields;
  if (typeof rootHash !== 'string' || !HEX_HASH.test(rootHash))
    throw malformed(image, 'its signature JSON has no rootHash of 64 lowercase hex digits');
  if (typeof signature !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(signature))
    throw malformed(image, 'its signature JSON has no base64 signature');
  if (
    certificateFingerprint !== undefined &&
    (typeof certificateFingerprint !== 'string' || !HEX_HASH.test(certificateFingerprint))
  )
    throw malformed(image, 'its signature JSON has a certificateFingerprint that is not 64 lowercase hex digits');
  // systemd does not read certificateFingerprint, so a DDI may lack it; '' then checks nothing.
  return { rootHash, signature, certificateFingerprint: certificateFingerprint ?? '' };
}

/**
 * Checks the hash tree against the payload, the root hash against the signature JSON and the partition
 * UUIDs (which systemd matches to it), and, given certificates, the signature. The payload read for the
 * tree is copied to `copyPayloadTo` on the way, so content checks read exactly the bytes verified.
 */
export async function verifyDdi(
  ctx: Context,
  info: DdiInfo,
  options: { certs: readonly VerifyingCert[]; copyPayloadTo?: string },
): Promise<DdiVerdict> {
  const file = await open(info.image, 'r');
  const copy = options.copyPayloadTo ? await open(options.copyPayloadTo, 'wx', 0o600) : undefined;
  let rootHash: string;
  try {
    rootHash = await computeVerifiedRootHash(file, info.payload, info.hash, info.superblock, {
      shownAs: info.image,
      ...(copy ? { copyPayloadTo: copy } : {}),
    });
  } finally {
    await copy?.close();
    await file.close();
  }
  checkRootHash(info, rootHash);
  if (!info.signature || options.certs.length === 0) return { rootHash };
  return { rootHash, signedBy: await verifyRootHashSignature(ctx, info.image, info.signature, options.certs) };
}

function checkRootHash(info: DdiInfo, rootHash: string): void {
  if (info.signature && info.signature.rootHash !== rootHash)
    throw verifyError(
      `${info.image}: its payload's root hash is ${rootHash}, its signature is for ${info.signature.rootHash}`,
      'the payload changed after it was signed: get the image again',
    );
  const uuids = verityPartitionUuids(rootHash);
  if (info.payload.uuid !== uuids.data || info.hash.uuid !== uuids.hash)
    throw verifyError(
      `${info.image}: its partition UUIDs do not carry its root hash ${rootHash}`,
      'systemd would not match its partitions: rebuild the DDI',
    );
}

/**
 * Verifies the DDI and passes `use` a private copy of its payload (the verified bytes, as long as the
 * superblock says) and the verdict; the copy is gone when `use` returns or throws.
 */
export async function withVerifiedPayload<T>(
  ctx: Context,
  info: DdiInfo,
  certs: readonly VerifyingCert[],
  use: (payload: string, verdict: DdiVerdict) => Promise<T>,
): Promise<T> {
  await using work = await tempDir('bake-ddi');
  const payload = join(work.path, `payload.${info.payload.format}`);
  const verdict = await verifyDdi(ctx, info, { certs, copyPayloadTo: payload });
  return await use(payload, verdict);
}
