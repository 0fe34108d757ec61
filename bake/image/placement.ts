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
import { usageError, inputError } from '../core/errors.ts';

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

export function parseInstallTarget(value: string): InstallTarget {
  const [partition, ...rest] = value.split(':');
  if (partition !== 'root' && partition !== 'oem') {
    throw usageError(`unknown partition '${partition}' in --install_to ${value}`, 'use root:<dir> or oem:<dir>');
  }
  const dir = rest.length ? rest.join(':') : DEFAULT_DIRS[partition];
  if (!dir.startsWith('/') || dir.split('/').includes('..')) {
    throw usageError(`--install_to directory '${dir}' must be an absolute path without '..'`, `e.g. ${partition}:${DEFAULT_DIRS[partition]}`);
  }
  return { partition, dir: posix.normalize(dir).replace(/\/+$/, '') || '/' };
}

export interface SysupdateTarget {
  path?: string;
  currentSymlink?: string;
  matchPatterns: string[];
}

/** The [Target] section of a sysupdate.d conf: where instances live and which symlink marks the current one. */
export function parseSysupdateTarget(text: string): SysupdateTarget {
  const target: SysupdateTarget = { matchPatterns: [] };
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) section = header[1]!;
    const setting = /^(\w+)\s*=\s*(.*)$/.exec(line);
    if (section !== 'Target' || !setting) continue;
    const [, key, value] = setting;
    if (key === 'Path') target.path = value!.replace(/\/+$/, '');
    if (key === 'CurrentSymlink') target.currentSymlink = value!;
    if (key === 'MatchPattern') target.matchPatterns.push(...value!.split(/\s+/).filter(Boolean));
  }
  return target;
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

function partitionOf(osPath: string): { partition: PartitionName; pathInPartition: string } {
  if (osPath === '/oem' || osPath.startsWith('/oem/')) return { partition: 'oem', pathInPartition: osPath.slice('/oem'.length) || '/' };
  if (osPath.startsWith('/usr/')) throw inputError(`a sysupdate conf targets ${osPath}`, '/usr is read-only on Flatcar; use /opt/extensions or /oem');
  return { partition: 'root', pathInPartition: osPath };
}

export function placeSysext(name: string, file: string, target: InstallTarget, conf?: SysupdateTarget, hasConf = conf !== undefined): Placement {
  const chosenDir = posix.join(OS_MOUNTS[target.partition], target.dir, name);
  const dir = conf?.path ?? chosenDir;
  const osPath = posix.join(dir, file);
  const link = `/etc/extensions/${name}.raw`;
  const symlinks = [link, ...(conf?.currentSymlink && conf.currentSymlink !== link ? [conf.currentSymlink] : [])];
  for (const symlink of symlinks) partitionOf(symlink); // rejects /usr
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
