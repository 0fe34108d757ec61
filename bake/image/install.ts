/**
 * Writes the planned sysexts into the mounted partitions: the image file, its /etc/extensions symlinks
 * and its sysupdate conf. Everything goes through privileged commands (`install`, `ln`, `mv`), so the
 * same code works as root and through sudo. Files are root-owned 0644 in 0755 directories; symlinks are
 * replaced atomically (the base image may already link a name, e.g. Flatcar's built-in docker).
 */
import { dirname, join } from 'node:path';
import type { Context } from '../context.ts';
import type { PartitionName, Placement } from './placement.ts';

export type PartitionMounts = Record<PartitionName, string>;

/** Maps an OS path to the host path under the mounted partition that holds it. */
export function hostPathOf(mounts: PartitionMounts, osPath: string): string {
  if (osPath === '/oem' || osPath.startsWith('/oem/')) return join(mounts.oem, osPath.slice('/oem'.length));
  return join(mounts.root, osPath);
}

export interface InstallSource {
  placement: Placement;
  /** The sysext image on the host. */
  image: string;
  /** Its sysupdate conf on the host, if any. */
  conf?: string;
}

export async function installSysext(ctx: Context, mounts: PartitionMounts, source: InstallSource): Promise<void> {
  const { placement } = source;
  const asRoot = (file: string, args: string[]) => ctx.run.run(file, args, { privileged: true, why: `install ${placement.name}` });
  const installFile = (from: string, to: string) => asRoot('install', ['-D', '-m', '0644', '-o', '0', '-g', '0', '-T', from, to]);
  await installFile(source.image, hostPathOf(mounts, placement.osPath));
  for (const link of placement.symlinks) {
    const linkPath = hostPathOf(mounts, link);
    const temporary = `${linkPath}.bake-new`;
    await asRoot('mkdir', ['-p', '-m', '0755', dirname(linkPath)]);
    await asRoot('ln', ['-sfn', placement.osPath, temporary]);
    await asRoot('mv', ['-Tf', temporary, linkPath]);
  }
  if (source.conf && placement.confPath) await installFile(source.conf, hostPathOf(mounts, placement.confPath));
}

/** Bytes each partition needs: file sizes rounded up to 4 KiB blocks plus per-file metadata, and 1 MiB slack. */
export function bytesNeeded(items: ReadonlyArray<{ placement: Placement; bytes: number }>): Record<PartitionName, number> {
  const needed: Record<PartitionName, number> = { root: 0, oem: 0 };
  for (const { placement, bytes } of items) needed[placement.partition] += Math.ceil(bytes / 4096) * 4096 + 64 * 1024;
  for (const partition of Object.keys(needed) as PartitionName[]) if (needed[partition] > 0) needed[partition] += 1024 * 1024;
  return needed;
}
