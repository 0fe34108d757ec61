/**
 * The build list: the bakery's `release_build_versions.txt` format, one `<name> <version>` or
 * `<name> latest` per line, `#` comments and blank lines allowed (docs/flatcar-facts.md §6).
 */
import { readFile } from 'node:fs/promises';
import { inputError } from '../core/errors.ts';
import { checkNameAndVersion } from './names.ts';

export interface BuildListEntry {
  name: string;
  /** A pinned upstream version, or 'latest' (which may expand to several versions). */
  version: string;
  /** 1-based, for error messages. */
  line: number;
  comment?: string;
}

export function parseBuildList(text: string, source = 'build list'): BuildListEntry[] {
  const entries: BuildListEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const hash = raw.indexOf('#');
    const content = (hash === -1 ? raw : raw.slice(0, hash)).trim();
    if (content === '') return;
    const fields = content.split(/\s+/);
    if (fields.length !== 2) {
      throw inputError(`${source}:${index + 1}: expected '<name> <version>' or '<name> latest', got '${content}'`);
    }
    const [name, version] = fields as [string, string];
    if (version !== 'latest') checkNameAndVersion(name, version);
    else checkNameAndVersion(name, '0');
    const comment = hash === -1 ? undefined : raw.slice(hash + 1).trim() || undefined;
    entries.push({ name, version, line: index + 1, ...(comment ? { comment } : {}) });
  });
  return entries;
}

export async function readBuildList(path: string): Promise<BuildListEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw inputError(`build list ${path} not found`, 'pass --config <file> (release_build_versions.txt format)');
    throw error;
  }
  return parseBuildList(text, path);
}
