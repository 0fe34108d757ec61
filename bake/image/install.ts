/**
 * Writes the planned sysexts into the partitions: the image file, its /etc/extensions symlinks and its
 * sysupdate conf. Every path is resolved inside its own partition and written without following a link
 * (see in-root.ts), by each partition's writer (offline for ROOT, see ext4-offline.ts). Files are
 * root-owned 0644 in 0755 directories; symlinks are replaced (the base image may already link a name,
 * e.g. Flatcar's built-in docker).
 */
import type { InRootWriter } from './in-root.ts';
import { type PartitionName, type Placement, partitionOf } from './placement.ts';

/** The writer of a partition; asked only for partitions some placement touches (see partitionsTouched). */
export type WriterFor = (partition: PartitionName) => InRootWriter;

export interface InstallSource {
  placement: Placement;
  /** The sysext image on the host. */
  image: string;
  /** Its sysupdate conf on the host, if any. */
  conf?: string;
}

export async function installSysext(writerFor: WriterFor, source: InstallSource): Promise<void> {
  const { placement } = source;
  /** The writer of the partition that holds an OS path, and the path inside it. */
  const at = (osPath: string): [InRootWriter, string] => {
    const { partition, pathInPartition } = partitionOf(osPath);
    return [writerFor(partition), pathInPartition];
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

/** Every path the placements write (images, links, confs), by partition. */
export function pathsWritten(placements: readonly Placement[]): Array<{ partition: PartitionName; path: string }> {
  const paths = placements.flatMap((placement) => [
    placement.osPath,
    ...placement.symlinks,
    ...(placement.confPath ? [placement.confPath] : []),
  ]);
  return paths.map((path) => {
    const { partition, pathInPartition } = partitionOf(path);
    return { partition, path: pathInPartition };
  });
}

/** The partitions the placements write to: the images, and links or confs a sysupdate conf put elsewhere. */
export function partitionsTouched(placements: readonly Placement[]): Set<PartitionName> {
  return new Set(pathsWritten(placements).map(({ partition }) => partition));
}

/** Bytes each partition needs: file sizes rounded up to 4 KiB blocks plus per-file metadata, and 1 MiB slack. */
export function bytesNeeded(
  items: ReadonlyArray<{ placement: Placement; bytes: number }>,
): Record<PartitionName, number> {
  const needed: Record<PartitionName, number> = { root: 0, oem: 0 };
  for (const { placement, bytes } of items) needed[placement.partition] += Math.ceil(bytes / 4096) * 4096 + 64 * 1024;
  for (const partition of Object.keys(needed) as PartitionName[])
    if (needed[partition] > 0) needed[partition] += 1024 * 1024;
  return needed;
}
