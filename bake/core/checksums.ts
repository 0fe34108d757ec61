/**
 * Hashes of files and `sha256sum`-format lists: the bakery's `SHA256SUMS.<name>`, the repository
 * manifests systemd-sysupdate reads (`<64 hex>  <file>`, `*` marking binary mode), the checksum files
 * upstreams publish, and the `.DIGESTS` Flatcar publishes beside every release file.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { inputError } from './errors.ts';

export type HashAlgorithm = 'sha256' | 'sha512';

/**
 * Reads through one reused 1 MiB buffer: a stream's 64 KiB chunks cost more in garbage than in hashing.
 * SHA-1 only where a format demands it (an OVA's manifest), never to verify anything.
 */
export async function hashFile(path: string, algorithm: HashAlgorithm | 'sha1'): Promise<string> {
  const hash = createHash(algorithm);
  const buffer = Buffer.allocUnsafe(1 << 20);
  const file = await open(path, 'r');
  try {
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await file.close();
  }
  return hash.digest('hex');
}

export const sha256File = (path: string) => hashFile(path, 'sha256');

/** One `sha256sum` line: hash, two spaces, file name (text mode, as coreutils writes it). */
export function sha256sumLine(hash: string, path: string): string {
  return `${hash}  ${basename(path)}\n`;
}

/**
 * Finds the hash for `fileName` in a checksum file, in the shapes upstreams publish: `hash  name`,
 * `hash *name` (binary mode), names with a path (`hash  ./name`), and a bare hash alone in the file
 * (`kubectl.sha256`), which is taken as the hash of the file it sits beside.
 */
export function findChecksum(text: string, fileName: string): string | undefined {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  for (const line of lines) {
    const match = /^([0-9a-fA-F]{64})\s+\*?(.+)$/.exec(line);
    if (match && basename(match[2]!.trim()) === fileName) return match[1]!.toLowerCase();
  }
  if (lines.length === 1) {
    const bare = /^([0-9a-fA-F]{64})$/.exec(lines[0]!);
    if (bare) return bare[1]!.toLowerCase();
  }
  return undefined;
}

export interface SumLine {
  sha256: string;
  file: string;
}

const LINE = /^([0-9a-fA-F]{64}) [ *](.+)$/;

export function parseSums(text: string, source = 'SHA256SUMS'): SumLine[] {
  const lines: SumLine[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    if (line === '') return;
    const match = LINE.exec(line);
    if (!match) throw inputError(`${source}:${index + 1}: not a sha256sum line: '${line.slice(0, 80)}'`);
    lines.push({ sha256: match[1]!.toLowerCase(), file: match[2]! });
  });
  return lines;
}

/** Sorted by file name, so rewriting an unchanged repository gives byte-identical manifests. */
export function formatSums(lines: readonly SumLine[]): string {
  const sorted = [...lines].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return sorted.map((l) => `${l.sha256}  ${l.file}\n`).join('');
}

/**
 * The SHA-512 that a Flatcar `.DIGESTS` file lists for `fileName`. Such a file has sections headed
 * `# MD5 HASH`, `# SHA1 HASH` and `# SHA512 HASH`, each followed by `<hex>  <file>` lines; only the
 * SHA-512 section counts. The list is signed but its names are not ours: undefined unless exactly one
 * entry names the file, and by exactly its name (not `../name` or `dir/name`), so no entry is chosen
 * among rivals.
 */
export function findFlatcarSha512(text: string, fileName: string): string | undefined {
  let section = '';
  const entries: Array<{ hash: string; name: string }> = [];
  for (const line of text.split('\n').map((raw) => raw.trim())) {
    const heading = /^# (\w+) HASH$/.exec(line);
    if (heading) section = heading[1]!.toUpperCase();
    const entry = section === 'SHA512' ? /^([0-9a-fA-F]{128})\s+\*?(.+)$/.exec(line) : null;
    if (entry && basename(entry[2]!) === fileName) entries.push({ hash: entry[1]!.toLowerCase(), name: entry[2]! });
  }
  const [only] = entries;
  return entries.length === 1 && only!.name === fileName ? only!.hash : undefined;
}
