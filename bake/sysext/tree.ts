/**
 * Walking and normalising a sysext tree before it becomes an image: every entry root-owned and stamped
 * with the build epoch, so formats that copy ownership and times from the source (btrfs, ext4) do not
 * leak the build machine's clock or uid into the image.
 */
import { lchown, lstat, lutimes, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isRootUser } from '../exec.ts';

export interface TreeEntry {
  /** Path relative to the tree root, with `/` separators, no leading slash. */
  path: string;
  kind: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  uid: number;
  size: number;
  /** Hard links to the inode: above 1, the file is shared with another tree (the unpack cache). */
  links: number;
}

/**
 * Every entry below `root`, depth first, sorted by name so the order never depends on the filesystem.
 * The entries of a directory, and its subdirectories, are read concurrently.
 */
export async function walkTree(root: string): Promise<TreeEntry[]> {
  async function visit(relative: string): Promise<TreeEntry[]> {
    const names = (await readdir(join(root, relative))).sort();
    const here = await Promise.all(names.map((name) => entryAt(root, relative ? `${relative}/${name}` : name)));
    const below = await Promise.all(here.map((entry) => (entry.kind === 'dir' ? visit(entry.path) : [])));
    return here.flatMap((entry, index) => [entry, ...below[index]!]);
  }
  return visit('');
}

async function entryAt(root: string, path: string): Promise<TreeEntry> {
  const stats = await lstat(join(root, path));
  const kind = stats.isDirectory() ? 'dir' : stats.isSymbolicLink() ? 'symlink' : stats.isFile() ? 'file' : 'other';
  return { path, kind, mode: stats.mode & 0o7777, uid: stats.uid, size: stats.size, links: stats.nlink };
}

/**
 * Stamps times (and, when we are root, ownership) on every entry and the root. Stamping an entry does
 * not touch its directory's times, so all of them are stamped at once.
 */
export async function normaliseTree(root: string, epoch: number): Promise<TreeEntry[]> {
  const chownAll = isRootUser();
  const paths = [root, ...(await walkTree(root)).map((entry) => join(root, entry.path))];
  await Promise.all(
    paths.map(async (path) => {
      if (chownAll) await lchown(path, 0, 0);
      await lutimes(path, epoch, epoch);
    }),
  );
  // Read again: the entries now carry the new owner, and chown clears set-user-ID and set-group-ID bits.
  return walkTree(root);
}

export function treeBytes(entries: readonly TreeEntry[]): number {
  return entries.reduce((sum, entry) => sum + (entry.kind === 'file' ? entry.size : 0), 0);
}
