/**
 * bz2 → sparse raw image, streamed, never held in memory. The decoder runs as a child process writing
 * into a FIFO that `cp --sparse=always` reads, so the bytes never pass through Node (the pure-JS decoders
 * are an order of magnitude slower: docs/performance.md). bzip2-maybe is the last resort when no decoder
 * is installed.
 */
import { constants, createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Context } from '../context.ts';
import { tempDir } from '../core/cleanup.ts';
import { BakeError, inputError } from '../core/errors.ts';
import { findTool } from '../core/exec.ts';
import { SparseFileWriter } from './sparse.ts';

/** Decoders in order of preference, with the arguments that decode to stdout with `jobs` threads. */
const DECODERS: ReadonlyArray<{ tool: string; args: (jobs: number) => string[] }> = [
  { tool: 'lbzip2', args: (jobs) => ['-d', '-c', '-n', String(jobs)] },
  { tool: 'pbzip2', args: (jobs) => ['-d', '-c', `-p${jobs}`] },
  { tool: 'bzip2', args: () => ['-d', '-c'] },
];

/** A bz2 file, or a stream of one that is still arriving (see growing-file.ts). */
export type Bz2Source = string | Readable;

const describe = (source: Bz2Source) => (typeof source === 'string' ? source : 'the download');

export type DecoderName = (typeof DECODERS)[number]['tool'] | 'bzip2-maybe';

export async function chooseDecoder(path?: string): Promise<DecoderName> {
  for (const decoder of DECODERS) if (await findTool(decoder.tool, path)) return decoder.tool;
  return 'bzip2-maybe';
}

export async function decompressBz2(ctx: Context, source: Bz2Source, dest: string): Promise<DecoderName> {
  const decoderName = await chooseDecoder();
  const decoder = DECODERS.find((d) => d.tool === decoderName);
  if (!decoder) {
    ctx.log.warn('no bz2 decoder found (lbzip2, pbzip2, bzip2): using the slow pure-JS fallback');
    await decompressInProcess(source, dest);
    return 'bzip2-maybe';
  }
  await using work = await tempDir('bake-bz2');
  const fifo = join(work.path, 'stream');
  await ctx.run.run('mkfifo', ['-m', '600', fifo]);
  const input = typeof source === 'string' ? { args: ['--', source] } : { args: [], input: source };
  const [tool, args] = await widenOutputPipe(decoder.tool, [...decoder.args(ctx.jobs), ...input.args]);
  // The reader must exist before the writer opens the FIFO, or the writer's open would block. Nothing
  // may be awaited between starting the two: a Ctrl-C meanwhile would reject one with no handler yet.
  const writer = ctx.run.run('cp', ['--sparse=always', fifo, dest], { why: 'write the image sparsely' });
  // The decoder's end of the FIFO is opened before the decoder starts, and that open waits for a reader:
  // if cp ends first (a Ctrl-C right after it started), a reader that comes and goes at once releases it.
  void writer.catch(() => releaseFifo(fifo));
  const reader = ctx.run.run(tool, args, { stdoutFile: fifo, why: 'decompress the image', input: input.input });
  const [decoded, written] = await Promise.allSettled([reader, writer]);
  // A writer that failed (disk full, Ctrl-C) takes the decoder down with it (a broken pipe): its error is the cause.
  if (written.status === 'rejected') throw written.reason;
  if (decoded.status === 'rejected') throw corruptArchive(decoded.reason, source);
  return decoder.tool;
}

/**
 * A pipe holds 64 KiB, so for a 2 GiB image the decoder stalls and the sparse writer wakes some 30,000
 * times, each time taking a core from the decoder. perl (on every Debian-like host) can widen the
 * decoder's output pipe to 1 MiB, the unprivileged maximum, before it becomes the decoder (exec keeps
 * the process, its exit status and its signals). Without perl the pipe stays as it is.
 */
const F_SETPIPE_SZ = 1031;
const WIDEN_STDOUT = `fcntl(STDOUT, ${F_SETPIPE_SZ}, 1 << 20); exec { $ARGV[0] } @ARGV or die "cannot run $ARGV[0]: $!\\n"`;

async function widenOutputPipe(tool: string, args: string[]): Promise<[string, string[]]> {
  if (!(await findTool('perl'))) return [tool, args];
  return ['perl', ['-e', WIDEN_STDOUT, tool, ...args]];
}

async function releaseFifo(fifo: string): Promise<void> {
  const handle = await open(fifo, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => undefined);
  await handle?.close();
}

function corruptArchive(reason: unknown, source: Bz2Source): unknown {
  if (reason instanceof BakeError && reason.kind === 'tool' && reason.reason !== 'tool-missing') {
    return inputError(
      `${describe(source)} is not a complete bz2 archive (${reason.message})`,
      'delete it from the cache and retry',
    );
  }
  return reason;
}

async function decompressInProcess(source: Bz2Source, dest: string): Promise<void> {
  // bzip2-maybe is CommonJS without types; it returns a Transform that decodes bz2 (or passes data through).
  const require = createRequire(import.meta.url);
  const bzip2Maybe = require('bzip2-maybe') as () => Transform;
  try {
    await pipeline(
      typeof source === 'string' ? createReadStream(source) : source,
      bzip2Maybe(),
      new SparseFileWriter(dest),
    );
  } catch (error) {
    throw inputError(
      `${describe(source)} is not a complete bz2 archive (${(error as Error).message})`,
      'delete it from the cache and retry',
    );
  }
}
