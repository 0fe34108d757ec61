/**
 * Keeping what comes from outside (archive contents, container outputs, paths in recipes) inside its
 * own tree. A path is resolved one component at a time below its root, following links only while they
 * stay inside (the way the kernel would, `..` included), so no link can lead a read or a write onto the
 * build host. Trees unpacked from archives are inspected once, before anything reads them.
 */
import { chmod, lstat, mkdir, readlink } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { inputError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { privatiseTree, walkTree } from './tree.ts';

/** The kernel's limit on links followed in one lookup (ELOOP). */
const MAX_LINKS = 40;

/**
 * What an absolute link target means in a tree: a place outside it (an upstream archive, a build's output),
 * or the tree's own root (a distribution package, whose links name paths of the system it installs into).
 */
export type AbsoluteLinks = 'outside' | 'root';

/**
 * `relative` below `root` with every link followed inside the root: the real path, which holds no link
 * below `root`, or undefined when a link or `..` leads out (an absolute link target does unless
 * `absolute` is 'root'). Missing components are taken as they are; the kernel could not walk through
 * them either.
 */
export async function resolveInside(
  root: string,
  relative: string,
  absolute: AbsoluteLinks = 'outside',
): Promise<string | undefined> {
  const resolved: string[] = [];
  const pending = relative.split('/').reverse();
  let links = 0;
  while (pending.length > 0) {
    const part = pending.pop()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (resolved.pop() === undefined) return undefined;
      continue;
    }
    const here = join(root, ...resolved, part);
    if (!(await lstat(here).catch(() => undefined))?.isSymbolicLink()) {
      resolved.push(part);
      continue;
    }
    const target = await readlink(here);
    if ((isAbsolute(target) && absolute === 'outside') || ++links > MAX_LINKS) return undefined;
    if (isAbsolute(target)) resolved.length = 0;
    pending.push(...target.split('/').reverse());
  }
  return join(root, ...resolved);
}

/** What an unpacked tree holds that bake will not use, or only in part. */
interface TreeFindings {
  /** The first entry that makes the tree unusable, and why. */
  refused?: { path: string; reason: string };
  /** Files and folders carrying set-user-ID or set-group-ID bits. */
  setId: string[];
  /** Files sharing their inode with another entry (hard links). */
  hardLinks: string[];
}

const SET_ID = 0o6000;

/** Walks a tree without following anything and reports what must be refused or stripped. */
async function inspectTree(tree: string, absolute: AbsoluteLinks): Promise<TreeFindings> {
  const findings: TreeFindings = { setId: [], hardLinks: [] };
  for (const entry of await walkTree(tree)) {
    if (entry.kind === 'other') findings.refused ??= { path: entry.path, reason: 'is a device node, FIFO or socket' };
    if (entry.kind === 'symlink' && (await resolveInside(tree, entry.path, absolute)) === undefined) {
      findings.refused ??= {
        path: entry.path,
        reason: `links outside its tree (to ${await readlink(join(tree, entry.path))})`,
      };
    }
    if (entry.kind === 'file' && entry.links > 1) findings.hardLinks.push(entry.path);
    if (entry.kind !== 'symlink' && entry.mode & SET_ID) findings.setId.push(entry.path);
  }
  return findings;
}

export const CONFINED_HINT =
  'bake takes only files, folders and links that stay inside from archives and builds; use another release or report it upstream';

/**
 * Makes a tree from outside (`label`: the archive, the build) safe to read: refuses device nodes, FIFOs,
 * sockets and links leading out of it; gives hard-linked files copies of their own and clears set-ID
 * bits, with a warning. `nameOf` turns a path in the tree into the name its source uses.
 */
export async function confineTree(
  log: Logger,
  tree: string,
  label: string,
  nameOf: (path: string) => Promise<string>,
  absolute: AbsoluteLinks = 'outside',
): Promise<void> {
  const findings = await inspectTree(tree, absolute);
  if (findings.refused)
    throw inputError(`${label}: ${await nameOf(findings.refused.path)} ${findings.refused.reason}`, CONFINED_HINT);
  for (const path of findings.hardLinks)
    log.warn(`${label}: ${await nameOf(path)} is a hard link; kept as a file of its own`);
  for (const path of findings.setId)
    log.warn(`${label}: ${await nameOf(path)} has a set-user-ID or set-group-ID bit; cleared`);
  if (findings.hardLinks.length > 0) await privatiseTree(tree);
  for (const path of findings.setId) {
    const full = join(tree, path);
    await chmod(full, (await lstat(full)).mode & 0o7777 & ~SET_ID);
  }
}

/**
 * The folder `relative` below `root` (`what` names the tree), made one component at a time; a component
 * that is a link or a file is refused, so writes into the tree never go through a link, wherever it
 * points. `relative` is normalised and free of `..`.
 */
export async function folderInside(root: string, relative: string, what: string): Promise<string> {
  return (await walkFolders(root, relative, what, true))!;
}

/** Like folderInside, but creates nothing: undefined when a component is missing. */
export async function existingFolderInside(root: string, relative: string, what: string): Promise<string | undefined> {
  return walkFolders(root, relative, what, false);
}

async function walkFolders(root: string, relative: string, what: string, create: boolean): Promise<string | undefined> {
  let path = root;
  for (const part of relative.split('/').filter((p) => p !== '' && p !== '.')) {
    path = join(path, part);
    if (create) {
      await mkdir(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
    }
    const stats = await lstat(path).catch(() => undefined);
    if (stats === undefined) return undefined;
    if (!stats.isDirectory()) {
      const kind = stats.isSymbolicLink() ? 'a link' : 'not a folder';
      throw inputError(
        `${path.slice(root.length + 1)} in ${what} is ${kind}`,
        'bake writes into trees only through real folders',
      );
    }
  }
  return path;
}
