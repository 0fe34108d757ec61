/**
 * ROOT's ext4, edited offline with e2fsprogs at the partition's offset in the image file
 * (`image?offset=N`): no loop device, no mount, no root. The host kernel never parses the base
 * image's filesystem, and bake runs as whoever owns the image.
 *
 * debugfs is the reader (TreeView, so in-root.ts resolves every path inside the image) and the writer
 * (PartitionStore). It is given only resolved, link-free paths: its own lookup follows links in
 * parent components, which the resolver has already ruled out. debugfs exits 0 when a command fails,
 * so anything it says on stderr other than its banner fails the step.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Context } from '../context.ts';
import { tempDir } from '../core/cleanup.ts';
import { inputError, spaceError, toolError } from '../core/errors.ts';
import type { RunOptions } from '../core/exec.ts';
import type { GptPartition } from './gpt.ts';
import type { EntryKind, PartitionStore, TreeView, WriteOptions } from './in-root.ts';
import { copyPartitionBack, copyPartitionOut } from './partition-file.ts';

/** An ext4 filesystem inside an image file, at a byte offset. */
export interface Ext4AtOffset {
  image: string;
  partition: GptPartition;
  /** For messages: ROOT. */
  label: string;
}

/** debugfs's stat types that matter to the resolver; the rest are 'other'. */
const KINDS: Record<string, EntryKind> = { regular: 'file', directory: 'dir', symlink: 'link' };
const BANNER = /^(debugfs|e2fsck|resize2fs|dumpe2fs) \d/;

/**
 * How e2fsprogs name the filesystem: the image by its base name (run in its directory, so a `?` in a
 * parent directory cannot be taken for the option separator) and the partition's offset.
 */
function device(fs: Ext4AtOffset): { name: string; cwd: string } {
  const name = basename(fs.image);
  if (name.includes('?'))
    throw inputError(`the image name ${name} contains '?', which e2fsprogs read as an option`, 'rename it');
  return { name: `./${name}?offset=${fs.partition.offsetBytes}`, cwd: dirname(fs.image) };
}

/**
 * One argument of a debugfs command line, in double quotes (a quote inside is doubled, as debugfs's
 * parser reads it). A line ends a command, so names with line breaks cannot be said and are refused.
 */
export function debugfsQuote(fs: Ext4AtOffset, path: string): string {
  if (/[\0\n\r]/.test(path))
    throw inputError(
      `${fs.label}:${JSON.stringify(path)} contains a line break, which debugfs cannot write`,
      'use another path',
    );
  return `"${path.replaceAll('"', '""')}"`;
}

async function e2fsprogs(ctx: Context, fs: Ext4AtOffset, tool: string, args: string[], options: RunOptions = {}) {
  const { name, cwd } = device(fs);
  return ctx.run.run(tool, [...args, name], { cwd, ...options });
}

/** The first thing debugfs complained about, if anything. */
function complaint(stderr: string): string | undefined {
  return stderr
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line !== '' && !BANNER.test(line));
}

/** Runs one debugfs request (reads only) and returns its output. */
async function request(ctx: Context, fs: Ext4AtOffset, command: string, options: RunOptions = {}) {
  return e2fsprogs(ctx, fs, 'debugfs', ['-R', command], {
    readOnly: true,
    why: `read ${fs.label} without mounting it`,
    ...options,
  });
}

/** ROOT's tree as debugfs reads it. */
export function ext4Tree(ctx: Context, fs: Ext4AtOffset): TreeView {
  return {
    async kind(path) {
      const { stdout, stderr } = await request(ctx, fs, `stat ${debugfsQuote(fs, path)}`);
      const type = /^Inode: \d+\s+Type: (\S+)/m.exec(stdout)?.[1];
      if (type !== undefined) return KINDS[type] ?? 'other';
      if (/File not found/.test(stderr)) return undefined;
      throw toolError(`debugfs could not read ${fs.label}:${path}: ${complaint(stderr) ?? 'no answer'}`);
    },
    async readlink(path) {
      // The target's bytes exactly (a fast link's are in `stat`, a slow one's in its data block): via a file, not a decoded pipe.
      await using scratch = await tempDir('bake-readlink');
      const out = join(scratch.path, 'out');
      await request(ctx, fs, `stat ${debugfsQuote(fs, path)}`, { stdoutFile: out });
      const stat = await readFile(out);
      const size = Number(/Size: (\d+)/.exec(stat.toString('latin1'))?.[1] ?? NaN);
      const marker = stat.indexOf('Fast link dest: "');
      if (marker >= 0)
        return stat
          .subarray(marker + 'Fast link dest: "'.length)
          .subarray(0, size)
          .toString('utf8');
      await request(ctx, fs, `cat ${debugfsQuote(fs, path)}`, { stdoutFile: out });
      return (await readFile(out)).subarray(0, size).toString('utf8');
    },
  };
}

/**
 * Writes into ROOT with `debugfs -w`, one command file per change: the tree the resolver reads next is
 * then always the tree on disk. What debugfs creates gets root:root and the mode a mounted install
 * gives, set explicitly (debugfs copies the host file's mode); its times are debugfs's "now".
 */
export function ext4Store(ctx: Context, fs: Ext4AtOffset): PartitionStore {
  const tree = ext4Tree(ctx, fs);
  const q = (path: string) => debugfsQuote(fs, path);
  const owned = (path: string, mode: string) => [
    `sif ${q(path)} mode ${mode}`,
    `sif ${q(path)} uid 0`,
    `sif ${q(path)} gid 0`,
  ];
  const apply = async (commands: string[]) => {
    await using scratch = await tempDir('bake-debugfs');
    const file = join(scratch.path, 'commands');
    await writeCommands(file, commands);
    const { stderr } = await e2fsprogs(ctx, fs, 'debugfs', ['-w', '-f', file], {
      why: `write into ${fs.label} without mounting it`,
    });
    const problem = complaint(stderr);
    if (problem) throw toolError(`debugfs could not write into ${fs.label}: ${problem}`);
  };
  /** Removes a file or link at `path` first: debugfs creates, it does not replace. */
  const clear = async (path: string) => ((await tree.kind(path)) === undefined ? [] : [`rm ${q(path)}`]);
  return {
    tree,
    mkdir: (path) => apply([`mkdir ${q(path)}`, ...owned(path, '040755')]),
    async putFile(from, path, options: WriteOptions) {
      const times = options.preserveTimes ? await preservedTimes(q(path), from) : [];
      await apply([...(await clear(path)), `write ${q(from)} ${q(path)}`, ...owned(path, '0100644'), ...times]);
    },
    putSymlink: async (target, path) =>
      apply([
        ...(await clear(path)),
        `symlink ${q(path)} ${q(target)}`,
        `sif ${q(path)} uid 0`,
        `sif ${q(path)} gid 0`,
      ]),
  };
}

async function writeCommands(file: string, commands: readonly string[]): Promise<void> {
  await writeFile(file, `${commands.join('\n')}\n`, { mode: 0o600 });
}

/** install -p keeps the source's modification and access times. */
async function preservedTimes(quotedPath: string, from: string): Promise<string[]> {
  const info = await stat(from);
  const seconds = (date: Date) => `@${Math.floor(date.getTime() / 1000)}`;
  return [`sif ${quotedPath} mtime ${seconds(info.mtime)}`, `sif ${quotedPath} atime ${seconds(info.atime)}`];
}

/** Free bytes for new files: free blocks less the blocks reserved for root (what statfs's bavail reports). */
export async function ext4FreeBytes(ctx: Context, fs: Ext4AtOffset): Promise<number> {
  const { stdout } = await e2fsprogs(ctx, fs, 'dumpe2fs', ['-h'], {
    readOnly: true,
    why: `measure the free space on ${fs.label}`,
  });
  const field = (name: string) => {
    const value = new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(stdout)?.[1];
    if (value === undefined)
      throw toolError(`dumpe2fs reported no "${name}" for ${fs.label}`, 'is this an ext4 filesystem?');
    return Number(value);
  };
  return Math.max(0, field('Free blocks') - field('Reserved block count')) * field('Block size');
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
