/**
 * The shape of a sysext Discoverable Disk Image, as systemd's Discoverable Partitions Specification and
 * `systemd-repart --make-ddi=sysext` define it: one GPT with the payload (`root`), its dm-verity hash tree
 * (`root-verity`) and, when signed, a signature partition (`root-verity-sig`) holding JSON with the root hash
 * and a detached PKCS#7 signature of it. The writer and the reader both take their facts from here.
 */
import type { Arch } from '../core/arch.ts';

export type DdiPartitionRole = 'root' | 'root-verity' | 'root-verity-sig';

/** Partition type GUIDs per architecture (the specification's root, root-verity and root-verity-sig types). */
export const DDI_PARTITION_TYPES: Record<Arch, Record<DdiPartitionRole, string>> = {
  'x86-64': {
    root: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709',
    'root-verity': '2c7357ed-ebd2-46d9-aec1-23d437ec2bf5',
    'root-verity-sig': '41092b05-9fc8-4523-994f-2def0408b176',
  },
  arm64: {
    root: 'b921b045-1df0-41c3-af44-4c6f280d3fae',
    'root-verity': 'df3300ce-d69f-4c92-978c-9bfb0f38d820',
    'root-verity-sig': '6db69de6-29f4-4758-a7a5-962190f00ce3',
  },
};

/** The labels systemd-repart gives the partitions: `root-x86-64`, `root-x86-64-verity`, `root-x86-64-verity-sig`. */
export function ddiPartitionLabel(arch: Arch, role: DdiPartitionRole): string {
  return role.replace('root', `root-${arch}`);
}

/** dm-verity parameters systemd-repart uses when it writes to a file: sha256 over 4 KiB data and hash blocks. */
export const DDI_VERITY = { hashAlgorithm: 'sha256', dataBlockSize: 4096, hashBlockSize: 4096 } as const;

/** The signature partition is 16 KiB: the JSON below, padded with NUL bytes. */
export const DDI_SIGNATURE_PARTITION_BYTES = 16 * 1024;

/** The signature partition's JSON. What is signed is `rootHash` as written here: lowercase hex, no newline. */
export interface DdiSignature {
  rootHash: string;
  /** sha256 of the signing certificate's DER encoding, lowercase hex. */
  certificateFingerprint: string;
  /** Detached PKCS#7 (DER, no signed attributes), base64. */
  signature: string;
}

/** The data and hash partitions' UUIDs are the first and last 128 bits of the root hash, as systemd expects. */
export function verityPartitionUuids(rootHash: string): { data: string; hash: string } {
  const asUuid = (hex: string) =>
    `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
  return { data: asUuid(rootHash.slice(0, 32)), hash: asUuid(rootHash.slice(-32)) };
}

/**
 * GPT attribute bit 60 (read-only): systemd-repart sets it on the payload and the hash partition, not on
 * the signature partition, and systemd mounts a partition with it read-only.
 */
export const DDI_READ_ONLY_ROLES: readonly DdiPartitionRole[] = ['root', 'root-verity'];
export const GPT_READ_ONLY_BIT = 60;

/** systemd refuses a signature partition larger than this (dissect-image.c): no signature needs more. */
export const DDI_SIGNATURE_PARTITION_MAX_BYTES = 4 * 1024 * 1024;

/** The architecture and role a partition type GUID stands for in a sysext DDI; undefined for any other type. */
export function ddiPartitionRole(typeGuid: string): { arch: Arch; role: DdiPartitionRole } | undefined {
  for (const [arch, roles] of Object.entries(DDI_PARTITION_TYPES) as Array<[Arch, Record<DdiPartitionRole, string>]>) {
    for (const [role, guid] of Object.entries(roles) as Array<[DdiPartitionRole, string]>) {
      if (guid === typeGuid.toLowerCase()) return { arch, role };
    }
  }
  return undefined;
}
