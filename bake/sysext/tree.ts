/**
 * Walking, cloning and normalising a sysext tree before it becomes an image: every entry root-owned and
 * stamped with the build epoch, so formats that copy ownership and times from the source (btrfs, ext4)
 * do not leak the build machine's clock or uid into the image.
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import {
  chmod,
  copyFile,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readlink,
  rename,
  symlink,
  unlink,
  utimes,
} from 'node:fs/promises';
import { join } from 'node:path';
import { BakeError, inputError } from '../core/errors.ts';
import { isRootUser } from '../core/exec.ts';

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

type EntryKind = 'a link' | 'a file' | 'a folder';

/** A tree being cloned has a link or file where the target has a folder, or the other way round. */
export class TreeConflict extends BakeError {
  constructor(
    /** The source entry that could not be placed, and what it is. */
    readonly source: { path: string; kind: EntryKind },
    /** The path in the target tree that is in the way, and what is there. */
    readonly dest: { path: string; kind: EntryKind },
  ) {
    super(
      'input',
      `${source.path} is ${source.kind} where ${dest.path} is ${dest.kind}`,
      'bake never writes through links or replaces folders',
    );
  }
}

/**
 * Recreates the tree `from` below `to`, merging into what is there: directories (with their modes) and
 * symlinks anew; files as hard links to the same inodes (`link`, falling back to a copy where the two
 * trees are on different filesystems) or as files of their own (`copy`, reflinked where the filesystem
 * can). An existing file is replaced, never written into, so a file shared with the cache stays intact;
 * a link already in `to` is never followed (what comes from an archive may point anywhere).
 * The entries of a directory are placed concurrently.
 */
export async function cloneTree(from: string, to: string, how: 'link' | 'copy'): Promise<void> {
  await folderFor(from, to);
  const names = await readdir(from, { withFileTypes: true });
  await Promise.all(
    names.map(async (entry) => {
      const source = join(from, entry.name);
      const dest = join(to, entry.name);
      if (entry.isDirectory()) return cloneTree(source, dest, how);
      if (entry.isSymbolicLink())
        return replacing(dest, async () => symlink(await readlink(source), dest), { path: source, kind: 'a link' });
      if (!entry.isFile())
        throw inputError(`${source} is not a file, directory or symlink`, 'only those can go into a sysext');
      return replacing(dest, () => (how === 'link' ? linkOrCopy(source, dest) : copyFile(source, dest, COPY)), {
        path: source,
        kind: 'a file',
      });
    }),
  );
}

/** `to` as a real folder: created with the mode of `from`, or an existing folder (not a link to one). */
async function folderFor(from: string, to: string): Promise<void> {
  const created = await mkdir(to).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
      return false;
    },
  );
  if (created) return chmod(to, (await lstat(from)).mode & 0o7777);
  const existing = await lstat(to);
  if (!existing.isDirectory())
    throw new TreeConflict(
      { path: from, kind: 'a folder' },
      { path: to, kind: existing.isSymbolicLink() ? 'a link' : 'a file' },
    );
}

/** Reflink where the filesystem can, never onto an existing file (replacing() removes it first). */
const COPY = constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL;

/** EXDEV: another filesystem; EPERM: one without hard links, or a file the kernel will not let us link. */
async function linkOrCopy(source: string, dest: string): Promise<void> {
  await link(source, dest).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EXDEV' && error.code !== 'EPERM') throw error;
    return copyFile(source, dest, COPY);
  });
}

/**
 * Places a file or symlink with `place` (which must fail with EEXIST rather than follow a link at
 * `dest`), first unlinking a file or link already there; a folder there is a TreeConflict.
 */
export async function replacing(
  dest: string,
  place: () => Promise<void>,
  source: TreeConflict['source'] = { path: dest, kind: 'a file' },
): Promise<void> {
  await place().catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
    if ((await lstat(dest)).isDirectory()) throw new TreeConflict(source, { path: dest, kind: 'a folder' });
    await unlink(dest);
    await place();
  });
}

/**
 * Gives every file below `dir` that shares its inode (with the cache, or another name from the same
 * archive) a copy of its own, mode and times kept.
 */
export async function privatiseTree(dir: string): Promise<void> {
  for (const entry of await walkTree(dir)) {
    if (entry.kind !== 'file' || entry.links < 2) continue;
    const path = join(dir, entry.path);
    // A name of its own: the tree may hold anything, `<name>.bake-private` included.
    const copy = `${path}.bake-private-${randomUUID()}`;
    const { atime, mtime } = await lstat(path);
    await copyFile(path, copy, constants.COPYFILE_EXCL);
    await utimes(copy, atime, mtime);
    await rename(copy, path);
  }
}

export function treeBytes(entries: readonly TreeEntry[]): number {
  return entries.reduce((sum, entry) => sum + (entry.kind === 'file' ? entry.size : 0), 0);
}
