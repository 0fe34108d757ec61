/** SHA-256 of files and `sha256sum`-format lists, as the bakery publishes them (`SHA256SUMS.<name>`). */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

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
  const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
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
