/**
 * Which release a decompressed image really is. A signature and a DIGESTS list vouch for bytes under a
 * file name, not for the directory they are served from: an older release's image (or another board's),
 * with its own valid signature and DIGESTS, passes every check when served under a newer release's
 * directory. So, before the image is kept or published, bake reads USR's os-release (offline: USR is
 * never mounted) and refuses an image that is not the release and board it asked for.
 */
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Context } from '../context.ts';
import { CleanupStack, tempDir } from '../core/cleanup.ts';
import { verifyError } from '../core/errors.ts';
import { parseKeyValueFile } from '../core/key-value.ts';
import { openBtrfs } from '../image/btrfs-read.ts';
import { Debugfs, debugfsQuote, parseStat } from '../image/e2fsprogs.ts';
import { type GptPartition, readGpt } from '../image/gpt.ts';
import type { ResolvedRelease } from './release.ts';

/** Where the running system finds os-release (docs/flatcar-facts.md §5); USR is mounted at /usr. */
const OS_RELEASE = '/usr/lib/os-release';
const USR_MOUNT = '/usr';
const USR_A = { number: 3, label: 'USR-A' };
/** As many symlinks as Linux follows in one lookup before ELOOP. */
const MAX_LINKS = 40;
/** os-release is a few hundred bytes; anything this big is not one. */
const MAX_OS_RELEASE_BYTES = 64 * 1024;
/** PATH_MAX less its NUL: no longer symlink target can be followed. */
const MAX_LINK_BYTES = 4095;
const HINT = "the mirror serves another release (or board) under this release's name; check --release-url";

/** What a path inside USR is, as lstat would say. */
type UsrEntry = { kind: 'file' | 'dir' | 'missing' | 'other' } | { kind: 'link'; target: string };

interface UsrReader {
  /** `fsPath` is relative to USR's own root (`/lib/os-release` for the system's `/usr/lib/os-release`). */
  lookup(fsPath: string): Promise<UsrEntry>;
  read(fsPath: string): Promise<string>;
  /** The names in the directory `fsPath` (its own path is not followed through links); none when it is missing. */
  list(fsPath: string): Promise<string[]>;
}

const refuse = (problem: string) => verifyError(`the image's ${OS_RELEASE} ${problem}`, HINT);

/** A plain name: what the offline readers can be handed safely (no separators, quotes or spaces). */
const PLAIN_NAME = /^[\w.+@-]+$/;

/**
 * Follows `systemPath` (as the booted system sees it) through USR's symlinks, inside USR only: a link
 * that leads out of /usr (to ROOT, or above /) is refused, never looked up on the host. Returns the path
 * of the regular file it names, relative to USR's root.
 */
async function resolveInUsr(systemPath: string, lookup: UsrReader['lookup']): Promise<string> {
  let todo = systemPathInUsr(systemPath).split('/');
  let resolved: string[] = [];
  let links = 0;
  let last: UsrEntry['kind'] = 'dir';
  while (todo.length > 0) {
    const name = todo.shift()!;
    if (name === '' || name === '.') continue;
    if (last !== 'dir') throw refuse(`has a path through a non-directory (/${resolved.join('/')})`);
    if (name === '..') {
      if (resolved.length === 0) throw refuse('leads out of /usr');
      resolved.pop();
      continue;
    }
    if (!PLAIN_NAME.test(name)) throw refuse(`leads to an unusual name (${JSON.stringify(name)})`);
    const entry = await lookup(`/${[...resolved, name].join('/')}`);
    if (entry.kind === 'link') {
      links += 1;
      if (links > MAX_LINKS) throw refuse('is a symlink loop');
      if (entry.target.startsWith('/')) resolved = [];
      todo = [...(entry.target.startsWith('/') ? systemPathInUsr(entry.target) : entry.target).split('/'), ...todo];
      last = 'dir';
      continue;
    }
    if (entry.kind === 'missing' || entry.kind === 'other')
      throw refuse(entry.kind === 'missing' ? 'is missing' : 'is not a regular file');
    resolved.push(name);
    last = entry.kind;
  }
  if (last !== 'file') throw refuse('is not a regular file');
  return `/${resolved.join('/')}`;
}

/** `/usr/x` → `x`; anything outside /usr is on ROOT or nowhere, not in USR. */
function systemPathInUsr(path: string): string {
  const normal = posix.normalize(path);
  if (normal !== USR_MOUNT && !normal.startsWith(`${USR_MOUNT}/`))
    throw refuse(`leads out of /usr (to ${JSON.stringify(path)})`);
  return normal.slice(USR_MOUNT.length);
}

/** btrfs (since alpha 3794) and ext2 (before) USR, told apart by their superblock magic. */
const USR_FILESYSTEMS = [
  { offset: 65600, magic: Buffer.from('_BHRfS_M', 'latin1'), reader: btrfsReader },
  { offset: 1080, magic: Buffer.from([0x53, 0xef]), reader: debugfsReader },
] as const;

async function usrFilesystem(image: string, usr: GptPartition) {
  const file = await open(image, 'r');
  try {
    for (const fs of USR_FILESYSTEMS) {
      const found = Buffer.alloc(fs.magic.length);
      await file.read(found, 0, found.length, usr.offsetBytes + fs.offset);
      if (found.equals(fs.magic)) return fs;
    }
  } finally {
    await file.close();
  }
  throw verifyError("the image's USR partition holds neither btrfs nor ext2", HINT);
}

/** USR's reader, open until `stack` is disposed. */
async function openUsr(ctx: Context, stack: CleanupStack, image: string): Promise<UsrReader> {
  const usr = (await readGpt(image)).partitions.find((p) => p.number === USR_A.number && p.label === USR_A.label);
  if (!usr) throw verifyError(`the image has no partition ${USR_A.number} labelled ${USR_A.label}`, HINT);
  const fs = await usrFilesystem(image, usr);
  return fs.reader(ctx, stack, image, usr);
}

/** The fields of USR's os-release, read offline. */
async function readUsrOsRelease(ctx: Context, image: string): Promise<Record<string, string>> {
  await using stack = new CleanupStack(ctx.log);
  const reader = await openUsr(ctx, stack, image);
  return parseKeyValueFile(await reader.read(await resolveInUsr(OS_RELEASE, (path) => reader.lookup(path))));
}

/** The names in each of USR's directories `fsPaths` (relative to USR's root, like `/lib/systemd`), read offline. */
export async function listUsrDirectories(
  ctx: Context,
  image: string,
  fsPaths: readonly string[],
): Promise<Map<string, string[]>> {
  await using stack = new CleanupStack(ctx.log);
  const reader = await openUsr(ctx, stack, image);
  const listings = new Map<string, string[]>();
  for (const path of fsPaths)
    listings.set(
      path,
      (await reader.list(path)).filter((name) => PLAIN_NAME.test(name)),
    );
  return listings;
}

/**
 * Refuses an image that is not `release`: USR's os-release must name its version (VERSION_ID, and
 * VERSION as version.txt has it) and its board.
 */
export async function checkImageIsRelease(
  ctx: Context,
  image: string,
  release: ResolvedRelease,
  versionTxt: Record<string, string>,
): Promise<void> {
  const os = await readUsrOsRelease(ctx, image);
  const expected: Array<[string, string | undefined]> = [
    ['VERSION_ID', release.version],
    ['VERSION', versionTxt.FLATCAR_VERSION ?? release.version],
    ['FLATCAR_BOARD', release.board],
  ];
  for (const [field, value] of expected) {
    if (os[field] !== value) {
      throw verifyError(
        `the image served as ${release.board} ${release.version} says ${field}=${os[field] ?? '(none)'} in ${OS_RELEASE}`,
        HINT,
      );
    }
  }
}

/** USR's btrfs read in the image file itself, at USR's offset: no loop device, no mount, no root. */
async function btrfsReader(ctx: Context, stack: CleanupStack, image: string, usr: GptPartition): Promise<UsrReader> {
  const file = await open(image, 'r');
  stack.defer(`close ${image}`, () => file.close());
  const scratch = await tempDir('bake-usr');
  stack.defer(`remove ${scratch.path}`, async () => scratch[Symbol.asyncDispose]());
  const reader = await openBtrfs({
    file,
    offset: usr.offsetBytes,
    size: usr.sizeBytes,
    fail: (problem) => verifyError(`the image's USR partition ${problem}`, HINT),
    run: ctx.run,
    scratch: scratch.path,
  });
  return {
    lookup: (fsPath) => reader.lookup(fsPath),
    list: async (fsPath) => ((await reader.lookup(fsPath)).kind === 'dir' ? reader.list(fsPath) : []),
    read: async (fsPath) => (await reader.read(fsPath, MAX_OS_RELEASE_BYTES)).toString('utf8'),
  };
}

/**
 * debugfs reads ext2 in the image file itself (`image?offset=N`), unprivileged and without a loop device:
 * one process for the whole check, paths quoted as debugfs reads them, its stat parsed as the install
 * parses it (e2fsprogs.ts).
 */
async function debugfsReader(ctx: Context, stack: CleanupStack, image: string, usr: GptPartition): Promise<UsrReader> {
  const fs = { image, partition: usr, label: 'USR' };
  const debugfs = Debugfs.open(ctx, fs, { write: false });
  stack.defer('end debugfs on USR', () => debugfs[Symbol.asyncDispose]());
  const output = async (command: string, path: string) =>
    (await debugfs.session([`${command} ${debugfsQuote(fs, path)}`])).outputs[0]!;
  const stat = async (path: string) => parseStat(fs, path, await output('stat', path));
  return {
    async lookup(fsPath) {
      const entry = await stat(fsPath);
      if (!entry) return { kind: 'missing' };
      if (entry.kind !== 'link') return { kind: entry.kind };
      if (entry.size > MAX_LINK_BYTES) throw refuse(`has a symlink of ${entry.size} bytes at ${fsPath}`);
      return { kind: 'link', target: (entry.fastLink ?? (await output('cat', fsPath))).toString('utf8') };
    },
    async read(fsPath) {
      // debugfs prints the whole file: its size first, so a huge one is never read into memory.
      const size = (await stat(fsPath))?.size ?? Number.POSITIVE_INFINITY;
      if (size > MAX_OS_RELEASE_BYTES) throw refuse(`is larger than ${MAX_OS_RELEASE_BYTES} bytes`);
      return (await output('cat', fsPath)).toString('utf8');
    },
    async list(fsPath) {
      // `ls -p` prints `/inode/mode/uid/gid/name/size/` per entry; a missing directory prints none.
      const listing = (await output('ls -p', fsPath)).toString('utf8');
      const names = listing.split('\n').map((line) => line.split('/')[5] ?? '');
      return names.filter((name) => name !== '' && name !== '.' && name !== '..');
    },
  };
}
