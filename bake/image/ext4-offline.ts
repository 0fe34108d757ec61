/**
 * ROOT's ext4, edited offline with e2fsprogs at the partition's offset in the image file
 * (`image?offset=N`): no loop device, no mount, no root. The host kernel never parses the base
 * image's filesystem, and bake runs as whoever owns the image.
 *
 * debugfs is the reader (Ext4Tree, so in-root.ts resolves every path inside the image) and the writer
 * (ext4Store). It is given only resolved, link-free paths: its own lookup follows links in parent
 * components, which the resolver has already ruled out. Reads and writes are batched, through one
 * debugfs process per install however many files it writes (ext4-session.ts): the tree keeps what it has
 * read and what the store has queued, which is what the partition holds once the queue is applied.
 */
import { stat } from 'node:fs/promises';
import { dirname, join, posix, resolve } from 'node:path';
import type { Context } from '../context.ts';
import { tempDir } from '../core/cleanup.ts';
import { inputError, spaceError, toolError } from '../core/errors.ts';
import { debugfsQuote, type Ext4AtOffset, e2fsprogs, type InodeStat, parseStat } from './e2fsprogs.ts';
import {
  allocateCommands,
  copyIntoExtents,
  type Extent,
  type FileToFill,
  listExtentsCommands,
  markWrittenCommands,
  parseExtents,
} from './ext4-extents.ts';
import type { Ext4Session } from './ext4-session.ts';
import type { EntryKind, PartitionStore, TreeView, WriteOptions } from './in-root.ts';
import { copyPartitionBack, copyPartitionOut } from './partition-file.ts';

export type { Ext4AtOffset } from './e2fsprogs.ts';

/** An entry as the tree knows it; null: nothing is there. */
type Entry = { kind: EntryKind; target?: string } | null;

/** Lookup failures that mean "nothing there" for a path asked below a directory, or "not below one". */
const LOOKUP_MISSES =
  /: (File not found by ext2_lookup|Ext2 inode is not a directory|Too many symbolic links encountered)$/;
/** The kernel's PATH_MAX: no longer link target can be followed, so none is read. */
const MAX_TARGET_BYTES = 4095;

/**
 * ROOT's tree as debugfs reads it, a batch of paths per debugfs session. It keeps only entries whose
 * parents it knows as directories: debugfs would have followed a link in a parent, the resolver never does.
 */
export class Ext4Tree implements TreeView {
  private readonly known = new Map<string, Entry>([['/', { kind: 'dir' }]]);
  /** Directories the store made: empty but for what it recorded in them. */
  private readonly made = new Set<string>();
  readonly batch = {
    load: (paths: readonly string[]) => this.load(paths),
    loaded: (path: string) => this.known.has(path),
  };

  constructor(private readonly session: Ext4Session) {}

  private get fs(): Ext4AtOffset {
    return this.session.fs;
  }

  async kind(path: string): Promise<EntryKind | undefined> {
    return (await this.entry(path))?.kind;
  }

  async readlink(path: string): Promise<string> {
    const target = (await this.entry(path))?.target;
    if (target === undefined) throw new Error(`internal: readlink of ${this.fs.label}:${path}, which is not a link`);
    return target;
  }

  /** What the store has queued at `path`: the partition holds it once the queue is applied. */
  record(path: string, entry: Entry): void {
    this.known.set(path, entry);
    if (entry?.kind === 'dir') this.made.add(path);
  }

  private async entry(path: string): Promise<Entry> {
    if (!this.known.has(path) && this.made.has(posix.dirname(path))) return null;
    if (!this.known.has(path)) await this.load([path]);
    const entry = this.known.get(path);
    if (entry === undefined) throw new Error(`internal: ${this.fs.label}:${path} asked below a non-directory`);
    return entry;
  }

  /** Reads the entries at `paths` and their parents in one debugfs batch (two with slow symlinks). */
  private async load(paths: readonly string[]): Promise<void> {
    const wanted = [...new Set(paths.flatMap(withParents))].filter((path) => !this.known.has(path)).sort(byDepth);
    if (wanted.length === 0) return;
    const session = await this.session.run(wanted.map((path) => `stat ${debugfsQuote(this.fs, path)}`));
    const problem = session.complaints.find((line) => !LOOKUP_MISSES.test(line));
    if (problem) throw toolError(`debugfs could not read ${this.fs.label}: ${problem}`);
    const found = new Map<string, InodeStat | undefined>();
    for (const [index, path] of wanted.entries()) {
      const parent = this.known.get(posix.dirname(path)) ?? found.get(posix.dirname(path));
      if (parent?.kind === 'dir') found.set(path, parseStat(this.fs, path, session.outputs[index]!));
    }
    const targets = await this.slowTargets(found);
    for (const [path, info] of found) {
      if (!info) this.known.set(path, null);
      else if (info.kind !== 'link') this.known.set(path, { kind: info.kind });
      else this.known.set(path, { kind: 'link', target: (info.fastLink ?? targets.get(path)!).toString('utf8') });
    }
  }

  /** The targets of slow symlinks (longer than fit in the inode), read from their data block. */
  private async slowTargets(found: Map<string, InodeStat | undefined>): Promise<Map<string, Buffer>> {
    const slow = [...found].filter(([, info]) => info?.kind === 'link' && !info.fastLink);
    const targets = new Map<string, Buffer>();
    if (slow.length === 0) return targets;
    for (const [path, info] of slow)
      if (info!.size > MAX_TARGET_BYTES)
        throw inputError(`${this.fs.label}:${path} is a symlink longer than any path`, 'check the base image');
    const commands = slow.map(([path]) => `cat ${debugfsQuote(this.fs, path)}`);
    const session = await this.session.run(commands);
    if (session.complaints.length > 0)
      throw toolError(`debugfs could not read ${this.fs.label}: ${session.complaints[0]}`);
    for (const [index, [path, info]] of slow.entries()) {
      const target = session.outputs[index]!;
      if (target.length !== info!.size || target.includes(0))
        throw toolError(`debugfs read the link ${this.fs.label}:${path} short`);
      targets.set(path, target);
    }
    return targets;
  }
}

/** `/a/b/c` → `/a`, `/a/b`, `/a/b/c`. */
function withParents(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  return parts.map((_, depth) => `/${parts.slice(0, depth + 1).join('/')}`);
}

const byDepth = (a: string, b: string) => a.split('/').length - b.split('/').length;

/** What the store wrote at a path, checked by a stat once debugfs has run. */
interface Expected {
  kind: EntryKind;
  mode: number;
  size?: number;
  target?: string;
}

/**
 * Writes into ROOT through `session` (debugfs -w), queued until flush. Then debugfs applies the queue,
 * creating each file empty with its blocks allocated, marks those blocks written and stats everything
 * written (debugfs does not fail when a command does); then it ends, and bake copies the files' bytes into
 * their blocks itself (ext4-extents.ts), so that debugfs's sync at its end does not wait for them. What
 * debugfs creates gets root:root and the mode a mounted install gives, set explicitly; its times are
 * debugfs's "now". The host files must stay until flush.
 */
export function ext4Store(ctx: Context, session: Ext4Session): PartitionStore {
  const tree = new Ext4Tree(session);
  const q = (path: string) => debugfsQuote(session.fs, path);
  const owner = (path: string) => [`sif ${q(path)} uid 0`, `sif ${q(path)} gid 0`];
  let queue: string[] = [];
  const expected = new Map<string, Expected>();
  /** The files whose bytes bake copies at flush, by path: a later write of a path replaces the earlier. */
  const toFill = new Map<string, FileToFill>();
  const make = (path: string, entry: Expected, commands: string[]) => {
    queue.push(...commands);
    tree.record(path, entry.target === undefined ? { kind: entry.kind } : { kind: 'link', target: entry.target });
    expected.set(path, entry);
  };
  /** Removes a file or link at `path` first: debugfs creates, it does not replace. */
  const clear = async (path: string) => {
    toFill.delete(path);
    return (await tree.kind(path)) === undefined ? [] : [`rm ${q(path)}`];
  };
  /** debugfs copies the bytes itself only where the filesystem cannot take a file allocated. */
  const create = async (from: string, path: string, size: number) => {
    const geometry = await session.geometry();
    if (!geometry.allocatable) return [`write ${q(resolve(from))} ${q(path)}`];
    const file = { from: resolve(from), path, size, geometry };
    toFill.set(path, file);
    return allocateCommands(q(path), file);
  };
  return {
    tree,
    mkdir: async (path) =>
      make(path, { kind: 'dir', mode: 0o755 }, [`mkdir ${q(path)}`, `sif ${q(path)} mode 040755`, ...owner(path)]),
    async putFile(from, path, options: WriteOptions) {
      const info = await stat(from);
      const times = options.preserveTimes ? preservedTimes(q(path), info) : [];
      const cleared = await clear(path);
      const written = await create(from, path, info.size);
      const write = [...written, `sif ${q(path)} mode 0100644`, ...owner(path), ...times];
      make(path, { kind: 'file', mode: 0o644, size: info.size }, [...cleared, ...write]);
    },
    async putSymlink(target, path) {
      const link = [`symlink ${q(path)} ${q(target)}`, ...owner(path)];
      make(path, { kind: 'link', mode: 0o777, target }, [...(await clear(path)), ...link]);
    },
    async flush() {
      if (queue.length === 0) return;
      const [commands, checks, files] = [queue, [...expected], [...toFill.values()].filter((file) => file.size > 0)];
      queue = [];
      expected.clear();
      toFill.clear();
      const extents = await applyQueue(session, commands, files, checks);
      for (const [index, file] of files.entries()) await copyIntoExtents(ctx, session.fs, file, extents[index]!);
    },
    pending: () => queue.length > 0,
  };
}

/**
 * Applies the queue, marks the files' extents written, checks it all and ends debugfs; returns each
 * file's extents. A failure ends debugfs too.
 */
async function applyQueue(
  session: Ext4Session,
  commands: readonly string[],
  files: readonly FileToFill[],
  checks: ReadonlyArray<[string, Expected]>,
): Promise<Extent[][]> {
  try {
    const extents = await allocate(session, commands, files);
    await markWrittenAndCheck(session, files, extents, checks);
    await session.end();
    return extents;
  } catch (error) {
    await session[Symbol.asyncDispose]();
    throw error;
  }
}

/** Applies the queued commands and lists the extents allocated for each file. */
async function allocate(session: Ext4Session, commands: readonly string[], files: readonly FileToFill[]) {
  const listings = files.flatMap((file) => listExtentsCommands(debugfsQuote(session.fs, file.path)));
  const said = await applied(session, [...commands, ...listings]);
  const listed = said.outputs.slice(commands.length);
  return files.map((file, index) => parseExtents(session.fs, file, listed[index * 3 + 1]!, { written: false }));
}

/** Marks the files' extents written and checks all that the queue wrote. */
async function markWrittenAndCheck(
  session: Ext4Session,
  files: readonly FileToFill[],
  extents: readonly Extent[][],
  checks: ReadonlyArray<[string, Expected]>,
): Promise<void> {
  const { fs } = session;
  const q = (path: string) => debugfsQuote(fs, path);
  const marks = files.flatMap((file, index) => markWrittenCommands(q(file.path), extents[index]!));
  const listings = files.flatMap((file) => listExtentsCommands(q(file.path)));
  const stats = checks.map(([path]) => `stat ${q(path)}`);
  const said = await applied(session, [...marks, ...listings, ...stats]);
  const listed = said.outputs.slice(marks.length, marks.length + listings.length);
  for (const [index, file] of files.entries()) parseExtents(fs, file, listed[index * 3 + 1]!, { written: true });
  const statted = said.outputs.slice(marks.length + listings.length);
  for (const [index, [path, want]] of checks.entries())
    checkWritten(fs, path, want, parseStat(fs, path, statted[index]!));
}

/** Runs commands that write, failing on the first complaint (debugfs goes on when a command fails). */
async function applied(session: Ext4Session, commands: readonly string[]) {
  const said = await session.run(commands);
  if (said.complaints.length > 0)
    throw toolError(`debugfs could not write into ${session.fs.label}: ${said.complaints[0]}`);
  return said;
}

function checkWritten(fs: Ext4AtOffset, path: string, want: Expected, got: InodeStat | undefined): void {
  const problem = !got
    ? 'it is missing'
    : got.kind !== want.kind
      ? `it is a ${got.kind}`
      : got.uid !== 0 || got.gid !== 0
        ? `it is owned by ${got.uid}:${got.gid}`
        : got.mode !== want.mode
          ? `its mode is ${got.mode.toString(8)}`
          : want.size !== undefined && got.size !== want.size
            ? `it has ${got.size} bytes, not ${want.size}`
            : want.target !== undefined && !sameTarget(got, want.target)
              ? 'its target differs'
              : undefined;
  if (problem)
    throw toolError(
      `debugfs did not write ${fs.label}:${path} as asked: ${problem}`,
      'is there room on the partition?',
    );
}

/** A fast link's target is in its stat; a slow one's size is, which is enough to catch a failed write. */
function sameTarget(got: InodeStat, target: string): boolean {
  return got.fastLink ? got.fastLink.equals(Buffer.from(target)) : got.size === Buffer.byteLength(target);
}

/** install -p keeps the source's modification and access times. */
function preservedTimes(quotedPath: string, info: { mtime: Date; atime: Date }): string[] {
  const seconds = (date: Date) => `@${Math.floor(date.getTime() / 1000)}`;
  return [`sif ${quotedPath} mtime ${seconds(info.mtime)}`, `sif ${quotedPath} atime ${seconds(info.atime)}`];
}

/**
 * Grows the ext4 to fill its (already grown) partition: e2fsck first, as resize2fs demands. resize2fs
 * cannot work at an offset (on a regular file it truncates the file to the filesystem's new size, which
 * would cut off the partition itself), so it grows a copy of the partition (partition-file.ts).
 */
export async function growExt4(ctx: Context, fs: Ext4AtOffset): Promise<void> {
  await using scratch = await tempDir('.bake-grow', dirname(fs.image));
  const part = join(scratch.path, 'root.img');
  const why = `grow ${fs.label} without mounting it`;
  await copyPartitionOut(ctx, fs.image, fs.partition, part, why);
  const fsck = await ctx.run.run('e2fsck', ['-f', '-y', part], {
    allowFailure: true,
    why: `check ${fs.label} before growing it`,
  });
  if (fsck.exitCode > 1)
    throw spaceError(
      `${fs.label}'s filesystem needs repair before it can grow (e2fsck exit ${fsck.exitCode})`,
      'the base image may be corrupt; clear the cache and retry',
    );
  await ctx.run.run('resize2fs', [part], { why });
  await copyPartitionBack(ctx, part, fs.image, fs.partition, why);
}

/** The read-only consistency check after the install. */
export async function checkExt4(ctx: Context, fs: Ext4AtOffset): Promise<void> {
  await e2fsprogs(ctx, fs, 'e2fsck', ['-f', '-n'], { readOnly: true, why: `check the ${fs.label} filesystem` });
}
