/**
 * Alpine's package format, read without apk-tools: an .apk is concatenated gzip streams (signature,
 * control, data). The APKINDEX `C:` field is the SHA-1 of the control stream, and the control stream's
 * `.PKGINFO` holds `datahash`, the SHA-256 of the data stream: checking both ties the data to the index.
 * The APKINDEX member of APKINDEX.tar.gz is read the same way.
 */
import { createHash } from 'node:crypto';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { inputError, verifyError } from '../core/errors.ts';

const GZIP_FLAGS = { extra: 4, name: 8, comment: 16, headerCrc: 2 } as const;
/** An index or control stream is small; anything bigger is refused. */
const MAX_METADATA_BYTES = 64 * 1024 * 1024;
/** Finding a stream's end inflates it: a stream that inflates beyond this is refused, not held in memory. */
const MAX_STREAM_BYTES = 1024 * 1024 * 1024;

/** The compressed bytes of each gzip member, in order. */
export function gzipMembers(data: Buffer, what: string): Buffer[] {
  const members: Buffer[] = [];
  let offset = 0;
  while (offset < data.length) {
    if (data[offset] !== 0x1f || data[offset + 1] !== 0x8b || data[offset + 2] !== 8)
      throw inputError(`${what} is not a gzip stream at byte ${offset}`, 'the file is corrupt; download it again');
    const flags = data[offset + 3]!;
    let body = offset + 10;
    if (flags & GZIP_FLAGS.extra) body += 2 + data.readUInt16LE(body);
    if (flags & GZIP_FLAGS.name) body = data.indexOf(0, body) + 1;
    if (flags & GZIP_FLAGS.comment) body = data.indexOf(0, body) + 1;
    if (flags & GZIP_FLAGS.headerCrc) body += 2;
    if (body <= offset || body > data.length)
      throw inputError(`${what} has a truncated gzip header`, 'the file is corrupt; download it again');
    const end = body + deflateLength(data.subarray(body), what) + 8;
    members.push(data.subarray(offset, end));
    offset = end;
  }
  return members;
}

/** How many bytes of `data` the deflate stream at its start takes up. */
function deflateLength(data: Buffer, what: string): number {
  try {
    // inflateRawSync's typings omit the `info` result: the engine reports how much input it consumed.
    const { engine } = inflateRawSync(data, { info: true, maxOutputLength: MAX_STREAM_BYTES }) as unknown as {
      engine: { bytesWritten: number };
    };
    return engine.bytesWritten;
  } catch {
    throw inputError(
      `${what} has a gzip stream that does not inflate (or exceeds ${MAX_STREAM_BYTES} bytes)`,
      'the file is corrupt or hostile; use another mirror',
    );
  }
}

/** Regular files of a (possibly unterminated) tar stream, by member name. */
export function tarFiles(tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
    const type = String.fromCharCode(header[156]!);
    if (!Number.isFinite(size) || size < 0)
      throw inputError(`tar member ${name} has a bad size`, 'the file is corrupt; download it again');
    if (type === '0' || type === '\0') files.set(name, tar.subarray(offset + 512, offset + 512 + size));
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

function gunzipMetadata(member: Buffer, what: string): Buffer {
  try {
    return gunzipSync(member, { maxOutputLength: MAX_METADATA_BYTES });
  } catch {
    throw inputError(
      `${what} does not decompress (or exceeds ${MAX_METADATA_BYTES} bytes)`,
      'the file is corrupt or hostile; use another mirror',
    );
  }
}

/** The APKINDEX text inside APKINDEX.tar.gz (its first stream is the signature, when signed). */
export function apkIndexText(archive: Buffer): string {
  for (const member of gzipMembers(archive, 'APKINDEX.tar.gz')) {
    const index = tarFiles(gunzipMetadata(member, 'APKINDEX.tar.gz')).get('APKINDEX');
    if (index) return index.toString('utf8');
  }
  throw inputError('APKINDEX.tar.gz has no APKINDEX member', 'check the repository URL (branch, repository, arch)');
}

/**
 * Checks an .apk against its index entry and returns its data stream (a tar.gz of the files).
 * Fails closed: a control stream that does not match `C:` or data that does not match `datahash`.
 */
export function verifiedApkData(apk: Buffer, controlSha1: string, name: string): Buffer {
  const members = gzipMembers(apk, `${name}.apk`);
  const controlIndex = members.findIndex(
    (member) => createHash('sha1').update(member).digest('hex') === controlSha1.toLowerCase(),
  );
  if (controlIndex < 0 || controlIndex !== members.length - 2) {
    throw verifyError(
      `${name}.apk does not match its APKINDEX checksum`,
      'the package or the index was altered; use another mirror',
    );
  }
  const info =
    tarFiles(gunzipMetadata(members[controlIndex]!, `${name}.apk`))
      .get('.PKGINFO')
      ?.toString('utf8') ?? '';
  const datahash = /^datahash = ([0-9a-f]{64})$/m.exec(info)?.[1];
  const data = members[controlIndex + 1]!;
  if (!datahash || createHash('sha256').update(data).digest('hex') !== datahash) {
    throw verifyError(
      `${name}.apk: its files do not match the datahash in its control data`,
      'the package was altered; use another mirror',
    );
  }
  return data;
}
