/**
 * Distribution package indexes (Alpine's APKINDEX, Debian's Packages) parsed into one shape, and the
 * dependency closure a wrapped package needs. Pure: the index text comes from the wrapper builders and
 * is tested on recorded indexes. Index contents are hostile: a file name that climbs out of the
 * repository is refused here, before anything is downloaded.
 */
import { posix } from 'node:path';
import { inputError } from '../core/errors.ts';

/** How a package file is checked against its index entry. */
export type PackageCheck =
  | { sha256: string }
  /** APKINDEX `C:` (SHA-1 of the package's control segment, which holds the SHA-256 of its data). */
  | { apkControlSha1: string };

export interface IndexedPackage {
  name: string;
  version: string;
  /** Path of the package file below the repository's base URL. */
  file: string;
  /** Names (or provided names) this package needs, first alternative only, without version constraints. */
  depends: string[];
  provides: string[];
  check: PackageCheck;
}

export type PackageIndex = ReadonlyMap<string, IndexedPackage>;

/** RFC 822-ish stanzas separated by blank lines; `Key: value` with indented continuation lines. */
function stanzas(text: string, separator: RegExp): Array<Map<string, string>> {
  return text
    .split(/\n\s*\n/)
    .map((block) => {
      const fields = new Map<string, string>();
      let last: string | undefined;
      for (const line of block.split('\n')) {
        if (/^\s/.test(line) && last) fields.set(last, `${fields.get(last)!}\n${line.trim()}`);
        const match = separator.exec(line);
        if (!match) continue;
        last = match[1]!;
        fields.set(last, match[2]!.trim());
      }
      return fields;
    })
    .filter((fields) => fields.size > 0);
}

/** A repository-relative path from an index; absolute paths and `..` are refused. */
function repositoryPath(path: string, index: string): string {
  const clean = posix.normalize(path);
  if (!path || posix.isAbsolute(clean) || clean === '..' || clean.startsWith('../')) {
    throw inputError(
      `${index} names a package file outside the repository: ${path}`,
      'the index is corrupt or hostile; use another mirror',
    );
  }
  return clean;
}

/** `name>=1.2`, `so:libc.musl-x86_64.so.1=1`, `libc6 (>= 2.34)`, `foo:any` → the bare name. */
function bareName(token: string): string {
  return token
    .trim()
    .split(/[\s(<>=~]/)[0]!
    .replace(/:any$/, '');
}

function addEntry(index: Map<string, IndexedPackage>, entry: IndexedPackage): void {
  // Debian lists a package once per suite and Alpine once per branch: the first entry wins.
  if (!index.has(entry.name)) index.set(entry.name, entry);
}

/** Alpine's APKINDEX text (the `APKINDEX` member of APKINDEX.tar.gz). */
export function parseApkIndex(text: string): PackageIndex {
  const index = new Map<string, IndexedPackage>();
  for (const fields of stanzas(text, /^(\w):(.*)$/)) {
    const name = fields.get('P');
    const version = fields.get('V');
    const checksum = fields.get('C');
    if (!name || !version || !checksum?.startsWith('Q1')) continue;
    const words = (key: string) => (fields.get(key) ?? '').split(/\s+/).filter((word) => word && !word.startsWith('!'));
    addEntry(index, {
      name,
      version,
      file: repositoryPath(`${name}-${version}.apk`, 'APKINDEX'),
      depends: words('D').map(bareName),
      provides: words('p').map(bareName),
      check: { apkControlSha1: Buffer.from(checksum.slice(2), 'base64').toString('hex') },
    });
  }
  return index;
}

/** Debian's Packages file. */
export function parseDebPackages(text: string): PackageIndex {
  const index = new Map<string, IndexedPackage>();
  for (const fields of stanzas(text, /^([\w-]+):(.*)$/)) {
    const name = fields.get('Package');
    const version = fields.get('Version');
    const file = fields.get('Filename');
    const sha256 = fields.get('SHA256');
    if (!name || !version || !file || !sha256 || !/^[0-9a-f]{64}$/i.test(sha256)) continue;
    const list = (key: string) =>
      (fields.get(key) ?? '')
        .split(',')
        .map((part) => bareName(part.split('|')[0]!))
        .filter(Boolean);
    addEntry(index, {
      name,
      version,
      file: repositoryPath(file, 'Packages'),
      depends: [...list('Pre-Depends'), ...list('Depends')],
      provides: list('Provides'),
      check: { sha256: sha256.toLowerCase() },
    });
  }
  return index;
}

/**
 * Every package the roots need, roots first, each once. A dependency names a package or something one
 * provides; `skip` names packages left out on purpose (e.g. ones the host always has, or pure scripts).
 */
export function dependencyClosure<T extends IndexedPackage>(
  index: ReadonlyMap<string, T>,
  roots: readonly string[],
  skip: readonly string[] = [],
): T[] {
  const providers = new Map<string, T>();
  for (const entry of index.values())
    for (const provided of entry.provides) if (!providers.has(provided)) providers.set(provided, entry);
  const chosen = new Map<string, T>();
  const pending = [...roots];
  while (pending.length > 0) {
    const wanted = pending.shift()!;
    if (skip.includes(wanted)) continue;
    const entry = index.get(wanted) ?? providers.get(wanted);
    if (!entry)
      throw inputError(
        `no package provides '${wanted}' in the index`,
        'check the package name and the repository (release, component)',
      );
    if (chosen.has(entry.name) || skip.includes(entry.name)) continue;
    chosen.set(entry.name, entry);
    pending.push(...entry.depends);
  }
  return [...chosen.values()];
}
