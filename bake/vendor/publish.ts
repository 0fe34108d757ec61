/**
 * Moves finished files from the private stage directory into the output directory. The stage lives on
 * the output filesystem, so each file appears by one rename, complete or not at all; across filesystems
 * it is copied to a hidden temporary name first and then renamed.
 */
import { copyFile, lstat, readlink, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';

async function moveAtomically(source: string, dest: string, tempName: string): Promise<void> {
  try {
    await rename(source, dest);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    const temp = join(dest, '..', tempName);
    try {
      const info = await lstat(source);
      if (info.isSymbolicLink()) await symlink(await readlink(source), temp);
      else await copyFile(source, temp);
      await rename(temp, dest);
    } finally {
      await rm(temp, { force: true });
    }
  }
}

/** Publishes `names` from `stage` into `outputDir`; returns the final paths in the same order. */
export async function publish(stage: string, outputDir: string, names: readonly string[]): Promise<string[]> {
  const paths: string[] = [];
  for (const name of names) {
    const dest = join(outputDir, name);
    await moveAtomically(join(stage, name), dest, `.${name}.partial`);
    paths.push(dest);
  }
  return paths;
}
