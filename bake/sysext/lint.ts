/**
 * Checks a sysext tree or image against what Flatcar's systemd-sysext and the bakery's conventions need
 * (bakery issue #247): only usr/ and opt/, nothing in usr/sbin, a matching extension-release, drop-ins
 * that end in .conf, ELF binaries of the right architecture, unit commands that exist, root ownership.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Context } from '../context.ts';
import { ARCHES, type Arch } from '../core/arch.ts';
import { inputError, isBakeError } from '../core/errors.ts';
import { parseKeyValueFile } from '../core/key-value.ts';
import { mountedTree, readInRoot, resolveInRoot } from '../image/in-root.ts';
import { requireSysextFormat, SYSEXT_RULES } from '../image/sysext-file.ts';
import { inspectDdi, isDdi, withVerifiedPayload } from './ddi.ts';
import { loadCert } from './ddi-signature.ts';
import { imageOwners, withExtractedImage } from './extract.ts';
import { FLATCAR_USR_COMMANDS } from './flatcar-usr.ts';
import { EXTENSION_RELEASE_DIR, extensionReleasePath } from './release.ts';
import { type TreeEntry, walkTree } from './tree.ts';

export interface LintFinding {
  rule:
    | 'top-level'
    | 'usr-sbin'
    | 'extension-release'
    | 'drop-in-suffix'
    | 'elf-arch'
    | 'exec-path'
    | 'owner'
    | 'ddi-arch'
    | 'signature';
  path: string;
  message: string;
}

export interface LintExpectation {
  name?: string;
  arch?: Arch;
  /** PEM certificates the image must be signed with (one of them): only a DDI's signature partition can be. */
  certs?: readonly string[];
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
/** lost+found is mkfs.ext*'s own and never merged. */
const ALLOWED_TOP_LEVEL = new Set(['usr', 'opt', 'lost+found']);
const UNIT_DIRS = ['usr/lib/systemd/system', 'usr/local/lib/systemd/system'];
const EXEC_KEYS = /^(ExecStart|ExecStartPre|ExecStartPost|ExecStop|ExecStopPost|ExecReload|ExecCondition)=(.*)$/;

/**
 * Lints a directory as is, or an image: copied out without root (ownership from the image's listing).
 * A DDI's layout, hash tree and (given `certs`)
 * signature are checked first, then its payload like a bare image.
 */
export async function lintSysext(
  ctx: Context,
  imageOrDir: string,
  expect: LintExpectation = {},
): Promise<LintFinding[]> {
  const info = await stat(imageOrDir).catch(() => undefined);
  if (!info) throw inputError(`${imageOrDir} does not exist`, 'name a sysext image (.raw) or a directory tree');
  const unsigned = expect.certs?.length ? [unsignedFinding(imageOrDir)] : [];
  if (info.isDirectory()) return [...unsigned, ...(await lintTree(imageOrDir, expect))];
  const named = { ...expect, name: expect.name ?? basename(imageOrDir).replace(/\.raw$/, '') };
  if (await isDdi(imageOrDir)) return lintDdi(ctx, imageOrDir, named);
  return [...unsigned, ...(await lintImage(ctx, imageOrDir, named))];
}

async function lintImage(ctx: Context, image: string, expect: LintExpectation): Promise<LintFinding[]> {
  const format = await requireSysextFormat(image);
  return withExtractedImage(ctx, image, format, '', async (tree) =>
    lintTree(tree, expect, { from: 'listing', uids: await imageOwners(ctx, image, format, tree) }),
  );
}

/** Malformed layouts (exit 3), a payload off its hash tree or a bad signature (exit 6) throw; the rest are findings. */
async function lintDdi(ctx: Context, image: string, expect: LintExpectation): Promise<LintFinding[]> {
  const ddi = await inspectDdi(image);
  const findings: LintFinding[] = [];
  if (expect.arch && ddi.arch !== expect.arch)
    findings.push({
      rule: 'ddi-arch',
      path: basename(image),
      message: `partitions for ${ddi.arch}, expected ${expect.arch}`,
    });
  if (expect.certs?.length && !ddi.signature) findings.push(unsignedFinding(image));
  // Read only when there is a signature to check them against, as before: an unsigned DDI is a finding.
  const certs = ddi.signature ? await Promise.all((expect.certs ?? []).map(loadCert)) : [];
  return withVerifiedPayload(ctx, ddi, certs, async (payload) => [
    ...findings,
    ...(await lintImage(ctx, payload, { ...expect, arch: expect.arch ?? ddi.arch })),
  ]);
}

function unsignedFinding(image: string): LintFinding {
  return {
    rule: 'signature',
    path: basename(image),
    message: 'it carries no signature (only a DDI with a root-verity-sig partition does) for --cert to check',
  };
}

/**
 * Who owns what: a tree on disk says so itself; an image read without root says so in its listing (the
 * extracted copy belongs to whoever extracted it); bake's own image builders make every entry root's,
 * whoever owns the tree they read.
 */
export type Ownership = { from: 'tree' } | { from: 'listing'; uids: ReadonlyMap<string, number> } | { from: 'builder' };

export async function lintTree(
  root: string,
  expect: LintExpectation = {},
  ownership: Ownership = { from: 'tree' },
): Promise<LintFinding[]> {
  const entries = await walkTree(root);
  const findings: LintFinding[] = [];
  for (const entry of entries) findings.push(...layoutFindings(entry));
  findings.push(...ownerFindings(entries, ownership));
  const release = await releaseFindings(root, entries, expect);
  findings.push(...release.findings);
  const arch = expect.arch ?? release.arch;
  for (const entry of entries) {
    if (entry.kind !== 'file') continue;
    if (arch) findings.push(...(await elfFindings(root, entry, arch)));
    if (isUnitFile(entry.path)) findings.push(...(await execFindings(root, entry.path)));
  }
  return findings;
}

function layoutFindings(entry: TreeEntry): LintFinding[] {
  const findings: LintFinding[] = [];
  const top = entry.path.split('/')[0]!;
  if (!entry.path.includes('/') && !ALLOWED_TOP_LEVEL.has(top)) {
    findings.push({ rule: 'top-level', path: entry.path, message: 'only usr/ and opt/ are merged by systemd-sysext' });
  }
  if (entry.path === 'usr/sbin' || entry.path.startsWith('usr/sbin/')) {
    findings.push({
      rule: 'usr-sbin',
      path: entry.path,
      message: 'Flatcar links /usr/sbin to /usr/bin; put it in usr/bin',
    });
  }
  const parent = dirname(entry.path);
  if (
    entry.kind !== 'dir' &&
    parent.endsWith('.d') &&
    UNIT_DIRS.includes(dirname(parent)) &&
    !entry.path.endsWith('.conf')
  ) {
    findings.push({
      rule: 'drop-in-suffix',
      path: entry.path,
      message: 'systemd ignores drop-ins that do not end in .conf',
    });
  }
  return findings;
}

function ownerFindings(entries: readonly TreeEntry[], ownership: Ownership): LintFinding[] {
  const owners: Array<[string, number]> =
    ownership.from === 'tree'
      ? entries.map((entry) => [entry.path, entry.uid])
      : ownership.from === 'listing'
        ? [...ownership.uids]
        : [];
  return owners
    .filter(([, uid]) => uid !== 0)
    .map(([path, uid]) => ({ rule: 'owner', path, message: `owned by uid ${uid}, not root` }));
}

async function releaseFindings(
  root: string,
  entries: readonly TreeEntry[],
  expect: LintExpectation,
): Promise<{ findings: LintFinding[]; arch?: Arch | undefined }> {
  const releases = entries.filter(
    (e) => dirname(e.path) === EXTENSION_RELEASE_DIR && basename(e.path).startsWith('extension-release.'),
  );
  const wanted = expect.name ? extensionReleasePath(expect.name) : releases[0]?.path;
  const found = releases.find((e) => e.path === wanted);
  const missing = (message: string) => ({
    findings: [{ rule: 'extension-release' as const, path: wanted ?? EXTENSION_RELEASE_DIR, message }],
  });
  if (!found)
    return missing(
      expect.name
        ? `no extension-release for '${expect.name}' (systemd-sysext matches it to the image name)`
        : 'no extension-release file',
    );
  const findings: LintFinding[] = [];
  const add = (message: string) => findings.push({ rule: 'extension-release', path: found.path, message });
  if (releases.length > 1)
    add(`more than one extension-release file: ${releases.map((e) => basename(e.path)).join(', ')}`);
  const text = await readInRoot(root, SYSEXT_RULES, `/${found.path}`).catch((error: unknown) => {
    if (isBakeError(error)) return undefined;
    throw error;
  });
  if (text === undefined)
    return missing(
      'the extension-release file cannot be read inside the image (a link that leads out of it or nowhere)',
    );
  const fields = parseKeyValueFile(text);
  if (!fields.ID) add('ID= is missing');
  else if (fields.ID !== '_any' && !fields.SYSEXT_LEVEL && !fields.VERSION_ID)
    add(`ID=${fields.ID} needs SYSEXT_LEVEL= or VERSION_ID=`);
  const arch = fields.ARCHITECTURE as Arch | undefined;
  if (arch && !(arch in ARCHES)) add(`ARCHITECTURE=${arch} is not one Flatcar runs on`);
  if (expect.arch && arch && arch !== expect.arch) add(`ARCHITECTURE=${arch}, expected ${expect.arch}`);
  return { findings, arch: arch && arch in ARCHES ? arch : undefined };
}

async function elfFindings(root: string, entry: TreeEntry, arch: Arch): Promise<LintFinding[]> {
  if (entry.size < 20) return [];
  const header = Buffer.alloc(20);
  const file = await open(join(root, entry.path), 'r');
  try {
    await file.read(header, 0, 20, 0);
  } finally {
    await file.close();
  }
  if (!header.subarray(0, 4).equals(ELF_MAGIC)) return [];
  const machine = header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18);
  if (machine === ARCHES[arch].elfMachine) return [];
  return [
    {
      rule: 'elf-arch',
      path: entry.path,
      message: `ELF machine ${machine}, expected ${ARCHES[arch].elfMachine} (${arch})`,
    },
  ];
}

function isUnitFile(path: string): boolean {
  return (
    UNIT_DIRS.some((dir) => path.startsWith(`${dir}/`)) &&
    /\.(service|socket|timer|path|mount)$|\.d\/[^/]+\.conf$/.test(path)
  );
}

/** Every Exec*= command must exist in the image or in Flatcar's /usr (after /bin, /sbin → /usr/bin). */
async function execFindings(root: string, unitPath: string): Promise<LintFinding[]> {
  const findings: LintFinding[] = [];
  for (const line of (await readFile(join(root, unitPath), 'utf8')).split('\n')) {
    const match = EXEC_KEYS.exec(line.trim());
    if (!match) continue;
    const command = match[2]!
      .trim()
      .replace(/^[-@:+!]+/, '')
      .split(/\s+/)[0];
    if (!command || command.includes('$') || command.includes('%')) continue;
    if (!command.startsWith('/')) {
      findings.push({ rule: 'exec-path', path: unitPath, message: `${match[1]}=${command} is not an absolute path` });
    } else if (!(await commandExists(root, command))) {
      findings.push({
        rule: 'exec-path',
        path: unitPath,
        message: `${match![1]}=${command} exists neither in the image nor in Flatcar's /usr`,
      });
    }
  }
  return findings;
}

async function commandExists(root: string, command: string): Promise<boolean> {
  const onFlatcar = flatcarPath(command);
  if (FLATCAR_USR_COMMANDS.has(onFlatcar)) return true;
  const resolved = (await whereInImage(root, command)) ?? (await whereInImage(root, onFlatcar));
  return resolved !== undefined && (resolved.inImage || FLATCAR_USR_COMMANDS.has(flatcarPath(resolved.path)));
}

function flatcarPath(path: string): string {
  return path.replace(/^\/(s?bin)\//, '/usr/bin/').replace(/^\/usr\/sbin\//, '/usr/bin/');
}

/**
 * Follows symlinks the way they resolve once merged, inside the image: the final path and whether
 * something is there; undefined when `path` itself is missing or its links cannot be resolved.
 */
async function whereInImage(root: string, path: string): Promise<{ path: string; inImage: boolean } | undefined> {
  const tree = mountedTree(root);
  try {
    if ((await tree.kind(await resolveInRoot(tree, SYSEXT_RULES, path, { followLast: false }))) === undefined)
      return undefined;
    const resolved = await resolveInRoot(tree, SYSEXT_RULES, path, { followLast: true });
    return { path: resolved, inImage: (await tree.kind(resolved)) !== undefined };
  } catch (error) {
    if (isBakeError(error)) return undefined;
    throw error;
  }
}

/** One line per finding, for errors and the CLI. */
export function formatFindings(findings: readonly LintFinding[]): string[] {
  return findings.map((f) => `${f.path}: ${f.message} [${f.rule}]`);
}
