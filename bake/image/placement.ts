/**
 * Where each sysext goes inside the image, decided before anything is mounted (pure, so --dry-run can
 * print it). The image lands at `<dir>/<name>/<file>` on the chosen partition and is linked from
 * `/etc/extensions/<name>.raw` on ROOT by the path the booted OS sees (`/oem/...` for OEM). When the
 * sysext's sysupdate conf names its own target directory or current symlink, those win: that is where
 * systemd-sysupdate looks for the current instance (the original bakes it elsewhere, so the first update
 * never sees it).
 */
import { posix } from 'node:path';
import type { Arch } from '../core/arch.ts';
import { inputError, usageError } from '../core/errors.ts';
import type { PartitionRules } from './in-root.ts';

export type PartitionName = 'root' | 'oem';

export interface InstallTarget {
  partition: PartitionName;
  /** Absolute directory inside the partition. */
  dir: string;
}

export const DEFAULT_INSTALL_TARGET: InstallTarget = { partition: 'root', dir: '/opt/extensions' };
const DEFAULT_DIRS: Record<PartitionName, string> = { root: '/opt/extensions', oem: '/extensions' };
/** Where each partition is mounted in the booted OS. */
const OS_MOUNTS: Record<PartitionName, string> = { root: '/', oem: '/oem' };
/**
 * Other partitions mounted over ROOT in the booted OS (docs/flatcar-facts.md §1: ROOT keeps only these
 * mount points and /oem). Whatever bake wrote below them on ROOT would be hidden, and USR is read-only and
 * signed.
 */
const FOREIGN_MOUNTS: Record<string, string> = {
  '/usr': 'USR, read-only on Flatcar',
  '/boot': 'the EFI system partition',
};

/** How each partition's own paths resolve: ROOT must not reach into what the booted OS mounts over it. */
export const PARTITION_RULES: Record<PartitionName, PartitionRules> = {
  root: { label: 'ROOT', foreign: [...Object.keys(FOREIGN_MOUNTS), OS_MOUNTS.oem] },
  oem: { label: 'OEM', foreign: [] },
};

/** What a path may be: a directory that receives files, or the path of a file or symlink bake creates. */
export type OsPathRole = 'dir' | 'entry';

/**
 * Why an OS path (as the booted system sees it) cannot be written by bake, or undefined when it can: it
 * must be absolute, free of `.` and `..` (systemd-sysupdate refuses those too), not under another
 * partition's mount point, and an entry must not be a partition's root.
 */
export function osPathProblem(path: string, role: OsPathRole): string | undefined {
  if (path === '') return 'is empty';
  if (path.includes('\0')) return 'contains a NUL byte';
  if (!path.startsWith('/')) return 'is not an absolute path';
  if (path.split('/').some((part) => part === '.' || part === '..'))
    return "is not normalised (it contains '.' or '..')";
  const normal = normaliseOsPath(path);
  const mount = Object.keys(FOREIGN_MOUNTS).find((prefix) => normal === prefix || normal.startsWith(`${prefix}/`));
  if (mount) return `is under ${mount} (${FOREIGN_MOUNTS[mount]})`;
  if (role === 'entry' && Object.values(OS_MOUNTS).includes(normal)) return 'is the root of a partition';
  return undefined;
}

/** `//opt//x/` → `/opt/x`; only for paths osPathProblem accepted. */
export function normaliseOsPath(path: string): string {
  return `/${path.split('/').filter(Boolean).join('/')}`;
}

/** `flag` is the spelling the user typed (`--install-to` or the original `--install_to`), for errors. */
export function parseInstallTarget(value: string, flag = '--install-to'): InstallTarget {
  const [partition, ...rest] = value.split(':');
  if (partition !== 'root' && partition !== 'oem') {
    throw usageError(`unknown partition '${partition}' in ${flag} ${value}`, 'use root:<dir> or oem:<dir>');
  }
  const dir = rest.length ? rest.join(':') : DEFAULT_DIRS[partition];
  const hint = `e.g. ${partition}:${DEFAULT_DIRS[partition]}`;
  const problem = osPathProblem(dir, 'dir') ?? osPathProblem(posix.join(OS_MOUNTS[partition], dir), 'dir');
  if (problem) throw usageError(`${flag} ${value}: '${dir}' ${problem}`, hint);
  const normal = normaliseOsPath(dir);
  if (partition === 'root' && partitionOf(normal).partition === 'oem') {
    throw usageError(
      `${flag} ${value}: ${normal} is the OEM partition in the booted OS`,
      `write oem:${normal.slice('/oem'.length) || '/'}`,
    );
  }
  return { partition, dir: normal };
}

export interface SysupdateTarget {
  /** Where the conf came from (its file name or URL), for errors. */
  source: string;
  path?: string;
  currentSymlink?: string;
  matchPatterns: string[];
}

/** Does a file name match a sysupdate MatchPattern (`@v` version, `%a` architecture, other specifiers)? */
export function matchesPattern(file: string, pattern: string, arch: Arch): boolean {
  let regex = '';
  for (let i = 0; i < pattern.length; i++) {
    const pair = pattern.slice(i, i + 2);
    if (pair === '@v') regex += '[^/]+';
    else if (pair === '%a') regex += arch.replace('-', '\\-');
    else if (pattern[i] === '@' || pattern[i] === '%') regex += '[^/]*';
    else {
      regex += pattern[i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      continue;
    }
    i += 1;
  }
  return new RegExp(`^${regex}$`).test(file);
}

export interface Placement {
  name: string;
  file: string;
  partition: PartitionName;
  /** Path of the image inside its partition. */
  pathInPartition: string;
  /** Path of the image as the booted OS sees it; what the symlinks point to. */
  osPath: string;
  /** Symlinks on ROOT, as OS paths. */
  symlinks: string[];
  /** Where the sysupdate conf goes on ROOT, when there is one. */
  confPath?: string;
  /** Why the conf moved the image, for the plan and the summary. */
  note?: string;
}

/** The partition that holds an OS path, and the path inside it. */
export function partitionOf(osPath: string): { partition: PartitionName; pathInPartition: string } {
  if (osPath === '/oem' || osPath.startsWith('/oem/'))
    return { partition: 'oem', pathInPartition: osPath.slice('/oem'.length) || '/' };
  return { partition: 'root', pathInPartition: osPath };
}

/** A file name bake puts inside the image: one plain path component (it may come from a bakery listing). */
function checkFileName(name: string, file: string): void {
  if (file === '' || file === '.' || file === '..' || /[/\0]/.test(file)) {
    throw inputError(
      `the file name '${file}' for sysext '${name}' is not a plain file name`,
      'name a file without directories, e.g. name:name-1.0-x86-64.raw',
    );
  }
}

export function placeSysext(
  name: string,
  file: string,
  target: InstallTarget,
  conf?: SysupdateTarget,
  hasConf = conf !== undefined,
): Placement {
  checkFileName(name, file);
  const chosenDir = posix.join(OS_MOUNTS[target.partition], target.dir, name);
  const dir = conf?.path ?? chosenDir;
  const osPath = posix.join(dir, file);
  const link = `/etc/extensions/${name}.raw`;
  const symlinks = [link, ...(conf?.currentSymlink && conf.currentSymlink !== link ? [conf.currentSymlink] : [])];
  return {
    name,
    file,
    ...partitionOf(osPath),
    osPath,
    symlinks,
    ...(hasConf ? { confPath: `/etc/sysupdate.${name}.d/${name}.conf` } : {}),
    ...(conf?.path && conf.path !== chosenDir ? { note: `placed where ${name}.conf's [Target] Path= says` } : {}),
  };
}
