/**
 * Writes the planned sysexts into the mounted partitions: the image file, its /etc/extensions symlinks
 * and its sysupdate conf. Every path is resolved inside its own partition and written without following
 * a link (see in-root.ts), through privileged commands, so the same code works as root and through
 * sudo. Files are root-owned 0644 in 0755 directories; symlinks are replaced atomically (the base image
 * may already link a name, e.g. Flatcar's built-in docker).
 */
import type { Context } from '../context.ts';
import { PartitionWriter } from './in-root.ts';
import { PARTITION_RULES, partitionOf, type PartitionName, type Placement } from './placement.ts';

export type PartitionMounts = Record<PartitionName, string>;

export interface InstallSource {
  placement: Placement;
  /** The sysext image on the host. */
  image: string;
  /** Its sysupdate conf on the host, if any. */
  conf?: string;
}

export async function installSysext(ctx: Context, mounts: PartitionMounts, source: InstallSource): Promise<void> {
  const { placement } = source;
  const writers: Record<PartitionName, PartitionWriter> = {
    root: new PartitionWriter(ctx, mounts.root, PARTITION_RULES.root),
    oem: new PartitionWriter(ctx, mounts.oem, PARTITION_RULES.oem),
  };
  /** The writer of the partition that holds an OS path, and the path inside it. */
  const at = (osPath: string): [PartitionWriter, string] => {
    const { partition, pathInPartition } = partitionOf(osPath);
    return [writers[partition], pathInPartition];
  };
  const [imageWriter, imagePath] = at(placement.osPath);
  await imageWriter.installFile(source.image, imagePath);
  for (const link of placement.symlinks) {
    const [linkWriter, linkPath] = at(link);
    await linkWriter.symlink(placement.osPath, linkPath);
  }
  if (source.conf && placement.confPath) {
    const [confWriter, confPath] = at(placement.confPath);
    await confWriter.installFile(source.conf, confPath);
  }
}

/** Bytes each partition needs: file sizes rounded up to 4 KiB blocks plus per-file metadata, and 1 MiB slack. */
export function bytesNeeded(items: ReadonlyArray<{ placement: Placement; bytes: number }>): Record<PartitionName, number> {
  const needed: Record<PartitionName, number> = { root: 0, oem: 0 };
  for (const { placement, bytes } of items) needed[placement.partition] += Math.ceil(bytes / 4096) * 4096 + 64 * 1024;
  for (const partition of Object.keys(needed) as PartitionName[]) if (needed[partition] > 0) needed[partition] += 1024 * 1024;
  return needed;
}
