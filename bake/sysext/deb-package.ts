/**
 * Debian's package format, read without dpkg: a .deb is an `ar` archive whose `data.tar.<compression>`
 * member holds the files. The whole .deb is checked against the index's SHA256 before it is read.
 */
import { inputError } from '../core/errors.ts';

const AR_MAGIC = '!<arch>\n';
const AR_HEADER = 60;

/** The data member's bytes and its compression suffix (`tar.xz`, `tar.zst`, `tar.gz`, `tar`). */
export function debDataMember(deb: Buffer, name: string): { data: Buffer; suffix: string } {
  if (deb.subarray(0, AR_MAGIC.length).toString('latin1') !== AR_MAGIC)
    throw inputError(`${name}.deb is not an ar archive`, 'the file is corrupt; download it again');
  for (let offset = AR_MAGIC.length; offset + AR_HEADER <= deb.length; ) {
    const header = deb.subarray(offset, offset + AR_HEADER).toString('latin1');
    const member = header.slice(0, 16).trim().replace(/\/$/, '');
    const size = Number(header.slice(48, 58).trim());
    if (!Number.isInteger(size) || size < 0 || offset + AR_HEADER + size > deb.length)
      throw inputError(`${name}.deb has a truncated member ${member}`, 'the file is corrupt; download it again');
    const suffix = /^data\.(tar(?:\.\w+)?)$/.exec(member)?.[1];
    if (suffix) return { data: deb.subarray(offset + AR_HEADER, offset + AR_HEADER + size), suffix };
    offset += AR_HEADER + size + (size % 2);
  }
  throw inputError(`${name}.deb has no data.tar member`, 'the file is corrupt; download it again');
}
