/**
 * Compression as release_util.sh's compress_disk_images does it: each compressible file gets
 * `<file>.<fmt>` next to it, symlinks get a symlink to the compressed target, and the plain file stays
 * only when `none` is among the formats.
 */
import { rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Compression } from '../../vendors/formats.ts';
import { COMPRESSIBLE, type VendorFile } from '../../vendors/outputs.ts';
import type { Context } from '../context.ts';

/** release_util.sh's commands, each with `jobs` threads; every one keeps its input. */
export const COMPRESSORS: Record<
  Exclude<Compression, 'none'>,
  { tool: string; args: (jobs: number) => readonly string[] }
> = {
  bz2: { tool: 'lbzip2', args: (jobs) => ['--compress', '--keep', '-n', String(jobs)] },
  gz: { tool: 'pigz', args: (jobs) => ['--keep', '-p', String(jobs)] },
  zip: { tool: 'pigz', args: (jobs) => ['--keep', '--zip', '-p', String(jobs)] },
  zst: { tool: 'zstd', args: (jobs) => ['--format=zstd', '-k', '-q', '--no-progress', `-T${jobs}`] },
};

export async function compressFiles(
  ctx: Context,
  dir: string,
  files: readonly VendorFile[],
  compression: readonly Compression[],
): Promise<void> {
  const formats = compression.filter((c): c is Exclude<Compression, 'none'> => c !== 'none');
  for (const file of files.filter((f) => COMPRESSIBLE.test(f.name))) {
    const path = join(dir, file.name);
    for (const format of formats) {
      if (file.linkTo) {
        await symlink(`${file.linkTo}.${format}`, `${path}.${format}`);
        continue;
      }
      const { tool, args } = COMPRESSORS[format];
      // Absolute paths of names bake chose: never read as an option.
      await ctx.run.run(tool, [...args(ctx.jobs), path], { why: `compress ${file.name} (${format})` });
    }
    if (formats.length > 0 && !compression.includes('none')) await rm(path);
  }
}
