/**
 * e2fsprogs on an ext4 filesystem inside an image file, at its partition's offset (`image?offset=N`),
 * and debugfs sessions: many commands in one process (a process per command cost most of an install).
 *
 * debugfs prints every command it reads from `-f` as `debugfs: <command>` and then the command's
 * output, which may hold the image's bytes (a link target, a file). Each command is preceded by a
 * comment line carrying a random marker, which debugfs echoes as is: the image cannot know the marker,
 * so it cannot fake where one command's output ends and the next one's begins.
 */
import { randomBytes } from 'node:crypto';
import { basename, dirname } from 'node:path';
import type { Context } from '../context.ts';
import { inputError, interruptedError, toolError } from '../core/errors.ts';
import type { RunningCommand, RunOptions } from '../core/exec.ts';
import type { ByteRange } from './gpt.ts';
import type { EntryKind } from './in-root.ts';

/** An ext4 filesystem inside a file, at a byte offset: a disk image's partition, or a whole image at 0. */
export interface Ext4AtOffset {
  image: string;
  partition: ByteRange;
  /** For messages: ROOT. */
  label: string;
}

const BANNER = /^(debugfs|e2fsck|resize2fs|dumpe2fs) \d/;
/**
 * debugfs reads a command file line by line into an 8 KiB buffer: a longer line would be cut into two
 * commands. Paths in the booted system stop at 4096 bytes anyway.
 */
const MAX_COMMAND_BYTES = 4096;

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

export async function e2fsprogs(
  ctx: Context,
  fs: Ext4AtOffset,
  tool: string,
  args: string[],
  options: RunOptions = {},
) {
  const { name, cwd } = device(fs);
  return ctx.run.run(tool, [...args, name], { cwd, ...options });
}

/**
 * One argument of a debugfs command line, in double quotes (a quote inside is doubled, as debugfs's
 * parser reads it). A line ends a command, so names with line breaks cannot be said and are refused.
 */
export function debugfsQuote(fs: Ext4AtOffset, path: string): string {
  return debugfsArgument(path, fs.label);
}

/** debugfsQuote for a path of any ext image; `where` names it in the error. */
export function debugfsArgument(path: string, where: string): string {
  if (/[\0\n\r]/.test(path))
    throw inputError(
      `${where}:${JSON.stringify(path)} contains a line break, which debugfs cannot say`,
      'use another path',
    );
  return `"${path.replaceAll('"', '""')}"`;
}

/** What e2fsprogs said on stderr, less their banner. */
export function complaints(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !BANNER.test(line));
}

export interface DebugfsSession {
  /** Each command's output, in order, as bytes. */
  outputs: Buffer[];
  complaints: string[];
}

/**
 * One debugfs process that takes batches of commands on its stdin (`-f -`), for as long as it is open:
 * a process per batch cost more than the work in it. In `-f` mode debugfs writes stdout and stderr
 * unbuffered, in the order it runs the commands. A batch is over when the marker after its last command
 * is on stdout and, on stderr, debugfs's complaint about a final command that does not exist, named with
 * a random nonce (the image cannot know it): then all it said about the batch has arrived on both.
 * Closing it (stdin ends) is when debugfs writes its bitmaps and superblock and syncs the image.
 */
export class Debugfs implements AsyncDisposable {
  private stdout: Buffer[] = [];
  private stderr: Buffer[] = [];
  private wake: () => void = () => undefined;
  private exit: { error?: unknown } | undefined;
  private busy: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly child: RunningCommand,
    private readonly fs: Ext4AtOffset,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener('abort', () => this.wake(), { once: true });
    child.stdout.on('data', (chunk: Buffer) => this.arrived(this.stdout, chunk));
    child.stderr.on('data', (chunk: Buffer) => this.arrived(this.stderr, chunk));
    child.exited.then(
      () => this.exited({}),
      (error: unknown) => this.exited({ error }),
    );
  }

  /** debugfs on `fs`, read-only unless `write`. */
  static open(ctx: Context, fs: Ext4AtOffset, { write }: { write: boolean }): Debugfs {
    const { name, cwd } = device(fs);
    // debugfs exits with the number of lines it did not know as commands: each batch's sentinel.
    const child = ctx.run.start('debugfs', [...(write ? ['-w'] : []), '-f', '-', name], {
      cwd,
      readOnly: !write,
      allowFailure: true,
      why: `${write ? 'write into' : 'read'} ${fs.label} without mounting it`,
    });
    return new Debugfs(child, fs, ctx.signal);
  }

  /** Runs `commands` in order (debugfs goes on past a failed one: its complaint is in `complaints`). */
  session(commands: readonly string[]): Promise<DebugfsSession> {
    const turn = this.busy.then(() => this.batch(commands));
    this.busy = turn.catch(() => undefined);
    return turn;
  }

  /** Ends the commands and waits for debugfs to close the filesystem. */
  async close(): Promise<void> {
    this.child.stdin.end();
    await this.child.exited;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close().catch(() => undefined);
  }

  private async batch(commands: readonly string[]): Promise<DebugfsSession> {
    for (const command of commands)
      if (Buffer.byteLength(command) > MAX_COMMAND_BYTES)
        throw inputError(
          `${this.fs.label}: a path in '${command.slice(0, 80)}…' is too long for debugfs`,
          'use a shorter path',
        );
    const marker = markers();
    const sentinel = `bake-${randomBytes(16).toString('hex')}`;
    const script = commands.map((command, index) => `${marker(index)}${command}\n`).join('');
    this.child.stdin.write(`${script}${marker(commands.length)}${sentinel}\n`);
    const last = Buffer.from(marker(commands.length));
    await this.until(() => joined(this.stdout).includes(last) && joined(this.stderr).includes(sentinel));
    const [stdout, stderr] = [joined(this.stdout), joined(this.stderr).toString('utf8')];
    this.stdout = [];
    this.stderr = [];
    const said = complaints(stderr).filter((line) => !line.includes(sentinel));
    return { outputs: splitOutputs(stdout, commands, marker), complaints: said };
  }

  private arrived(stream: Buffer[], chunk: Buffer): void {
    stream.push(chunk);
    this.wake();
  }

  private exited(how: { error?: unknown }): void {
    this.exit = how;
    this.wake();
  }

  /** Resolves when `done` holds; rejects when debugfs exits first, or on Ctrl-C. */
  private until(done: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.wake = () => {
        if (this.signal.aborted) reject(interruptedError(this.signal, `running debugfs on ${this.fs.label}`));
        else if (done()) resolve();
        else if (this.exit)
          reject(this.exit.error ?? toolError(`debugfs exited before it ran every command on ${this.fs.label}`));
      };
      this.wake();
    });
  }
}

/** The chunks of a stream so far, as one buffer (kept as one, so the next join copies nothing). */
function joined(chunks: Buffer[]): Buffer {
  if (chunks.length > 1) chunks.splice(0, chunks.length, Buffer.concat(chunks));
  return chunks[0] ?? Buffer.alloc(0);
}

/** The comment line before command `index`; debugfs echoes comments verbatim. */
export function markers(): (index: number) => string {
  const nonce = randomBytes(16).toString('hex');
  return (index) => `#bake-${nonce} ${index}\n`;
}

/** Each command's output: what lies between its echo and the next marker. */
export function splitOutputs(stdout: Buffer, commands: readonly string[], marker: (index: number) => string): Buffer[] {
  const outputs: Buffer[] = [];
  let cursor = 0;
  for (const [index, command] of commands.entries()) {
    const start = stdout.indexOf(marker(index), cursor);
    const echo = Buffer.from(`debugfs: ${command}\n`);
    const body = start + Buffer.byteLength(marker(index)) + echo.length;
    const end = start < 0 ? -1 : stdout.indexOf(marker(index + 1), body);
    if (end < 0 || !stdout.subarray(body - echo.length, body).equals(echo))
      throw toolError(`debugfs did not run '${command}' as asked`, 'check that e2fsprogs is installed and working');
    outputs.push(stdout.subarray(body, end));
    cursor = end;
  }
  return outputs;
}

/** What debugfs's `stat` says of an inode. */
export interface InodeStat {
  kind: EntryKind;
  /** The permission bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** A fast symlink's target, exactly its bytes (a slow one keeps it in a data block: `cat` it). */
  fastLink?: Buffer;
}

/** debugfs's stat types that matter to the resolver; the rest are 'other'. */
const KINDS: Record<string, EntryKind> = { regular: 'file', directory: 'dir', symlink: 'link' };
/** stat's first three lines, which are fixed; what follows may hold the image's bytes (xattrs, a link target). */
const STAT_HEADER =
  /^Inode: \d+\s+Type: (\S+)\s+Mode:\s+([0-7]+)\s+Flags: \S+\nGeneration: [^\n]*\nUser:\s+(\d+)\s+Group:\s+(\d+)\s+(?:Project:\s+\d+\s+)?Size: (\d+)\n/;
const FAST_LINK = Buffer.from('\nFast link dest: "');

/** A `stat` output; undefined when it is empty (debugfs found nothing, and said why on stderr). */
export function parseStat(fs: Ext4AtOffset, path: string, output: Buffer): InodeStat | undefined {
  if (output.length === 0) return undefined;
  // latin1 maps byte to character one to one, so offsets in the text are offsets in the bytes.
  const header = STAT_HEADER.exec(output.toString('latin1'));
  if (!header) throw toolError(`debugfs's stat of ${fs.label}:${path} is not in the expected form`);
  const [, type, mode, uid, gid, size] = header;
  const stat: InodeStat = {
    kind: KINDS[type!] ?? 'other',
    mode: Number.parseInt(mode!, 8),
    uid: Number(uid),
    gid: Number(gid),
    size: Number(size),
  };
  if (stat.kind !== 'link') return stat;
  // Only the header and this line start a line with a field name; xattrs are indented and escaped.
  const marker = output.indexOf(FAST_LINK);
  if (marker < 0) return stat;
  const start = marker + FAST_LINK.length;
  const target = output.subarray(start, start + stat.size);
  if (target.length !== stat.size || target.includes(0) || output.toString('latin1', start + stat.size) !== '"\n')
    throw toolError(`debugfs's stat of the link ${fs.label}:${path} is not in the expected form`);
  return { ...stat, fastLink: target };
}
