/**
 * A fixed VHD is the raw disk followed by a 512-byte footer (Microsoft's VHD specification, "Hard Disk
 * Footer Format"). The native route owns its copy of the disk, so it appends the footer in place instead
 * of having `qemu-img convert -O vpc -o subformat=fixed,force_size` rewrite every allocated byte of a
 * 30 GB disk. The footer is the one that command writes (qemu block/vpc.c, vpc_co_create): creator
 * application "qem2" (force_size), creator 5.3 on "Wi2k", and the largest CHS geometry, which tells
 * readers to take the size from the footer rather than from the geometry; so the size stays exact.
 */
import { randomUUID } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { toolError } from '../core/errors.ts';

export const VHD_FOOTER_BYTES = 512;
/** qemu's VHD_MAX_SECTORS: it refuses larger fixed disks ("max size is 2040 GiB"). */
const VHD_MAX_BYTES = 0xff000000 * 512;
/** VHD timestamps count seconds from 2000-01-01T00:00:00Z. */
const VHD_EPOCH_SECONDS = 946684800;
const FIXED_DISK = 2;
/** 65535 cylinders × 16 heads × 255 sectors: "use the size field" (qemu's VHD_CHS_MAX_*). */
const MAX_GEOMETRY = { cylinders: 0xffff, heads: 16, sectorsPerTrack: 255 };

export interface FooterIdentity {
  /** 16 bytes; a fresh random (v4) UUID, as qemu-img generates. */
  uuid: Buffer;
  created: Date;
}

function freshIdentity(): FooterIdentity {
  return { uuid: Buffer.from(randomUUID().replaceAll('-', ''), 'hex'), created: new Date() };
}

/** Pure: the footer of a fixed VHD whose disk is `diskBytes` long. */
export function fixedVhdFooter(diskBytes: number, identity: FooterIdentity = freshIdentity()): Buffer {
  const footer = Buffer.alloc(VHD_FOOTER_BYTES);
  footer.write('conectix', 0, 'latin1');
  footer.writeUInt32BE(0x2, 8); // features: "reserved", always set
  footer.writeUInt32BE(0x00010000, 12); // format version 1.0
  footer.writeBigUInt64BE(0xffffffffffffffffn, 16); // data offset: none, a fixed disk has no header
  footer.writeUInt32BE(Math.floor(identity.created.getTime() / 1000) - VHD_EPOCH_SECONDS, 24);
  footer.write('qem2', 28, 'latin1');
  footer.writeUInt16BE(5, 32);
  footer.writeUInt16BE(3, 34);
  footer.write('Wi2k', 36, 'latin1');
  footer.writeBigUInt64BE(BigInt(diskBytes), 40); // original size
  footer.writeBigUInt64BE(BigInt(diskBytes), 48); // current size
  footer.writeUInt16BE(MAX_GEOMETRY.cylinders, 56);
  footer.writeUInt8(MAX_GEOMETRY.heads, 58);
  footer.writeUInt8(MAX_GEOMETRY.sectorsPerTrack, 59);
  footer.writeUInt32BE(FIXED_DISK, 60);
  identity.uuid.copy(footer, 68);
  // One's complement of the byte sum, taken while the checksum field (64–67) is still zero.
  const sum = footer.reduce((total, byte) => total + byte, 0);
  footer.writeUInt32BE(~sum >>> 0, 64);
  return footer;
}

/** Turns the raw disk at `path` (`diskBytes` long) into a fixed VHD by appending its footer. */
export async function appendFixedVhdFooter(path: string, diskBytes: number): Promise<void> {
  if (diskBytes > VHD_MAX_BYTES)
    throw toolError(
      `${path}: ${diskBytes} bytes is too large for a VHD (at most 2040 GiB)`,
      'use another vendor format or a smaller layout',
    );
  await appendFile(path, fixedVhdFooter(diskBytes));
}
