/**
 * `SHA256SUMS` in `sha256sum` format, the manifest systemd-sysupdate reads next to the images:
 * `<64 hex>  <file>` per line (`*` before the file marks binary mode and is accepted).
 */
import { inputError } from '../errors.ts';

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
