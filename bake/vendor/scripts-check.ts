/**
 * `bake vendors --release R --check`: compares the vendor table with the release's own
 * build_library/vm_image_util.sh (VALID_IMG_TYPES and the IMG_<format>_<option> settings), so the table
 * can be kept true as Flatcar changes. The tree is untrusted text: it is parsed, never sourced.
 */
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DISK_FORMATS,
  type DiskFormat,
  diskExtension,
  existsIn,
  formatIn,
  oemPayload,
  VENDOR_TABLE,
  type VendorFormat,
} from '../../vendors/formats.ts';
import type { Context } from '../context.ts';
import { tempDir } from '../core/cleanup.ts';
import { inputError } from '../core/errors.ts';
import { scriptsTag, type VendorRelease } from './plan.ts';
import { fetchScriptsCheckout } from './scripts-source.ts';
import type { ScriptsTrust } from './scripts-trust.ts';

export const VM_IMAGE_UTIL = 'build_library/vm_image_util.sh';

/** What vm_image_util.sh makes of one format, its IMG_DEFAULT_* values applied. */
export interface ScriptsFormat {
  disk: string;
  layout: string;
  extension: string;
  oem?: string;
  oemSysext: boolean;
}

type Options = Record<string, string>;

function unquote(value: string): string {
  return value.trim().replace(/^(["'])(.*)\1$/, '$2');
}

/** VALID_IMG_TYPES=( ... ), one name per word, comments dropped. */
function validTypes(text: string): string[] {
  const match = /^VALID_IMG_TYPES=\(([^)]*)\)/m.exec(text);
  if (!match) throw inputError(`${VM_IMAGE_UTIL} has no VALID_IMG_TYPES list`, 'check --scripts-tarball-url');
  return match[1]!
    .split('\n')
    .map((line) => line.replace(/#.*/, ''))
    .join(' ')
    .split(/\s+/)
    .filter(Boolean);
}

/** IMG_<format>_<OPTION>=value lines (format names are lower case, options upper case). */
function imgOptions(text: string): { defaults: Options; byFormat: Map<string, Options> } {
  const defaults: Options = {};
  const byFormat = new Map<string, Options>();
  for (const [, format, option, value] of text.matchAll(/^IMG_([a-z0-9_]+?|DEFAULT)_([A-Z][A-Z0-9_]*)=(.*)$/gm)) {
    const target = format === 'DEFAULT' ? defaults : (byFormat.get(format!) ?? byFormat.set(format!, {}).get(format!)!);
    target[option!] = unquote(value!);
  }
  return { defaults, byFormat };
}

/** The OEM from `_OEM_SYSEXT` (Era C: the id; before: `oem-<id>`), else from the package it emerges. */
function oemOf(options: Options): Pick<ScriptsFormat, 'oem' | 'oemSysext'> {
  const sysext = options.OEM_SYSEXT;
  if (sysext) return { oem: sysext.replace(/^oem-/, ''), oemSysext: true };
  const pkg = options.OEM_PACKAGE;
  if (!pkg) return { oemSysext: false };
  return { oem: pkg === 'common-oem-files' ? options.OEM_USE : pkg.replace(/^oem-/, ''), oemSysext: false };
}

export function parseVmImageUtil(text: string): Map<string, ScriptsFormat> {
  const { defaults, byFormat } = imgOptions(text);
  const formats = new Map<string, ScriptsFormat>();
  for (const name of validTypes(text)) {
    const options = { ...defaults, ...byFormat.get(name) };
    const disk = options.DISK_FORMAT || 'raw';
    const extension = options.DISK_EXTENSION || (DISK_FORMATS[disk as DiskFormat]?.extension ?? disk);
    formats.set(name, { disk, layout: options.DISK_LAYOUT || 'base', extension, ...oemOf(options) });
  }
  return formats;
}

/** The table's row for `version` in the same terms. */
function tableFormat(row: VendorFormat, version: string): ScriptsFormat {
  const format = formatIn(row, version);
  const payload = oemPayload(format, version);
  return {
    disk: format.disk,
    layout: format.layout,
    extension: diskExtension(format),
    ...(payload ? { oem: payload.spec.id } : {}),
    oemSysext: payload?.sysext ?? false,
  };
}

const FIELDS: ReadonlyArray<keyof ScriptsFormat> = ['disk', 'layout', 'extension', 'oem', 'oemSysext'];

/** Every difference between the table for `version` and the parsed vm_image_util.sh, one line each. */
export function compareWithScripts(scripts: ReadonlyMap<string, ScriptsFormat>, version: string): string[] {
  const differences: string[] = [];
  const table = new Map<string, VendorFormat>(
    VENDOR_TABLE.filter((row) => existsIn(row, version)).map((row) => [row.name, row]),
  );
  for (const name of scripts.keys())
    if (!table.has(name)) differences.push(`${name}: in VALID_IMG_TYPES, not in the table for ${version}`);
  for (const [name, row] of table) {
    const theirs = scripts.get(name);
    if (!theirs) {
      differences.push(`${name}: in the table for ${version}, not in VALID_IMG_TYPES`);
      continue;
    }
    const ours = tableFormat(row, version);
    for (const field of FIELDS) {
      if (ours[field] !== theirs[field])
        differences.push(
          `${name}: ${field} is ${String(theirs[field])} in vm_image_util.sh, ${String(ours[field])} in the table`,
        );
    }
  }
  return differences;
}

/** Reads a regular file inside the unpacked tree, refusing a symlink anywhere on the way out of it. */
async function readInsideTree(root: string, relative: string): Promise<string> {
  let path = root;
  for (const part of relative.split('/')) {
    path = join(path, part);
    const info = await lstat(path).catch(() => undefined);
    if (!info || info.isSymbolicLink())
      throw inputError(
        `the flatcar/scripts tree has no ${relative} (or it is a symlink)`,
        'check --scripts-tarball-url',
      );
  }
  return readFile(path, 'utf8');
}

export interface ScriptsCheck {
  tag: string;
  formats: number;
  differences: string[];
}

/** Fetches the release's flatcar/scripts (the SDK route's download, cached) and compares. */
export async function checkAgainstScripts(
  ctx: Context,
  release: VendorRelease,
  trust: ScriptsTrust,
): Promise<ScriptsCheck> {
  await using work = await tempDir('bake-scripts-check');
  // Only read, never run, but checked all the same: against the tag's pinned tree unless `trust` names a digest.
  await fetchScriptsCheckout(ctx, release, work.path, trust);
  const scripts = parseVmImageUtil(await readInsideTree(work.path, VM_IMAGE_UTIL));
  return { tag: scriptsTag(release), formats: scripts.size, differences: compareWithScripts(scripts, release.version) };
}
