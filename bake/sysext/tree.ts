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

/** Every entry below `root`, depth first, sorted by name so the order never depends on the filesystem. */
export async function walkTree(root: string): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [];
  async function visit(relative: string): Promise<void> {
    const names = (await readdir(join(root, relative))).sort();
    for (const name of names) {
      const path = relative ? `${relative}/${name}` : name;
      const stats = await lstat(join(root, path));
      const kind = stats.isDirectory() ? 'dir' : stats.isSymbolicLink() ? 'symlink' : stats.isFile() ? 'file' : 'other';
      entries.push({ path, kind, mode: stats.mode & 0o7777, uid: stats.uid, size: stats.size, links: stats.nlink });
      if (kind === 'dir') await visit(path);
    }
  }
  await visit('');
  return entries;
}

/** Stamps times (and, when we are root, ownership) on every entry, children before parents. */
export async function normaliseTree(root: string, epoch: number): Promise<TreeEntry[]> {
  const entries = await walkTree(root);
  const chownAll = isRootUser();
  for (const entry of [...entries].reverse()) {
    const path = join(root, entry.path);
    if (chownAll) await lchown(path, 0, 0);
    await lutimes(path, epoch, epoch);
  }
  if (chownAll) await lchown(root, 0, 0);
  await lutimes(root, epoch, epoch);
  return walkTree(root);
}

export function treeBytes(entries: readonly TreeEntry[]): number {
  return entries.reduce((sum, entry) => sum + (entry.kind === 'file' ? entry.size : 0), 0);
}
