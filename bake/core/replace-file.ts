/**
 * Writing a file where others may have planted something: the temporary lives in a fresh mkdtemp
 * directory beside the target (no planted link can sit at its name), and rename(2) replaces whatever is
 * at the target, a symlink included, instead of writing through it.
 */
import { rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { tempDir } from './cleanup.ts';

/** Replaces `path` with the file `write` creates at the temporary path it is given. */
export async function replaceFile(path: string, write: (temporary: string) => Promise<unknown>): Promise<void> {
  await using dir = await tempDir('.replace', dirname(path));
  const temporary = join(dir.path, basename(path));
  await write(temporary);
  await rename(temporary, path);
}

/** Replaces `path` with a file holding `content`. */
export function replaceFileWith(path: string, content: string): Promise<void> {
  return replaceFile(path, (temporary) => writeFile(temporary, content));
}
