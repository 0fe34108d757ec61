/**
 * The one way bake runs external commands. It logs every command (visible with --verbose), prefixes
 * `sudo` for privileged ones when not root, skips mutating ones under --dry-run, forwards Ctrl-C
 * (the context's abort signal) and turns every failure into a one-line BakeError that names the tool.
 */
import { access, constants, open } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { ExecaError, execa, type Options } from 'execa';
import { withoutUndefined } from './defined.ts';
import { BakeError, interruptedError, toolError } from './errors.ts';
import type { Logger } from './log.ts';

export interface HostTool {
  /** The Debian package that brings it, for "install it" hints and `bake doctor`. */
  package: string;
  /** What bake cannot do without it (`bake doctor` says so). */
  needed: string;
  /** Tools that stand in for each other: one of the group is enough. */
  anyOf?: string;
  /** Every bake runs it, so `bake doctor` fails without it. */
  everyBake?: true;
}

/** Every host tool bake runs: its package and what it is for. The one table (exec hints, doctor). */
export const HOST_TOOLS: Readonly<Record<string, HostTool>> = {
  lbzip2: { package: 'lbzip2', needed: 'decompress release images (fastest)', anyOf: 'bzip2', everyBake: true },
  pbzip2: { package: 'pbzip2', needed: 'decompress release images', anyOf: 'bzip2', everyBake: true },
  bzip2: { package: 'bzip2', needed: 'decompress release images', anyOf: 'bzip2', everyBake: true },
  gpg: { package: 'gnupg', needed: 'verify release signatures (every bake) and sign repositories', everyBake: true },
  losetup: { package: 'mount', needed: 'build btrfs sysexts (a loop device, as root)' },
  mount: { package: 'mount', needed: 'build btrfs sysexts (a read-only mount, as root)' },
  umount: { package: 'mount', needed: 'unmount what bake mounted' },
  resize2fs: { package: 'e2fsprogs', needed: 'grow ROOT and build ext4 sysexts' },
  e2fsck: { package: 'e2fsprogs', needed: 'check filesystems after a bake', everyBake: true },
  debugfs: { package: 'e2fsprogs', needed: 'edit ext4 partitions offline (bake)', everyBake: true },
  'mkfs.ext4': { package: 'e2fsprogs', needed: 'build ext4 sysexts' },
  'mkfs.btrfs': { package: 'btrfs-progs', needed: 'build btrfs sysexts' },
  btrfs: { package: 'btrfs-progs', needed: 'edit btrfs partitions (OEM, older releases)' },
  mksquashfs: { package: 'squashfs-tools', needed: 'build squashfs sysexts (the default format)' },
  unsquashfs: { package: 'squashfs-tools', needed: 'read and lint squashfs sysexts' },
  'mkfs.erofs': { package: 'erofs-utils', needed: 'build erofs sysexts' },
  'fsck.erofs': { package: 'erofs-utils', needed: 'read and lint erofs sysexts' },
  'qemu-img': {
    package: 'qemu-utils',
    needed: 'copy partitions out and back (growing ROOT, sysexts on OEM), vendor images and bake boot',
  },
  zstd: {
    package: 'zstd',
    needed: "read USR's zstd-compressed os-release (every bake) and --compression zst",
    everyBake: true,
  },
  pigz: { package: 'pigz', needed: '--compression gz for vendor images' },
  tar: { package: 'tar', needed: 'unpack upstream archives (sysext create) and the vendor scripts' },
  mkfifo: { package: 'coreutils', needed: 'decompress while downloading', everyBake: true },
  cp: { package: 'coreutils', needed: 'copy cached images (reflinks where possible)', everyBake: true },
  sudo: { package: 'sudo', needed: 'run the SDK vendor route and build btrfs sysexts as a non-root user' },
  podman: {
    package: 'podman',
    needed: 'the Flatcar SDK (--vendor-route sdk) and source-built recipes',
    anyOf: 'container runtime',
  },
  docker: {
    package: 'docker.io',
    needed: 'the Flatcar SDK (--vendor-route sdk) and source-built recipes',
    anyOf: 'container runtime',
  },
  'qemu-system-x86_64': { package: 'qemu-system-x86', needed: 'bake boot and --smoke-test' },
  patchelf: { package: 'patchelf', needed: 'bundle distribution packages (sysext wrap, btop, tilde)' },
  git: { package: 'git', needed: 'check the flatcar/scripts tarball against its pinned tree (SDK vendor route)' },
  unshare: { package: 'util-linux', needed: 'rebuild OEM offline with root ownership as an ordinary user' },
  'dump.erofs': { package: 'erofs-utils', needed: 'read owners in erofs sysexts without root' },
  veritysetup: { package: 'cryptsetup-bin', needed: 'build verity sysexts (sysext create/pack --verity, --sign)' },
  sgdisk: { package: 'gdisk', needed: 'write the partition table of verity sysexts' },
  openssl: { package: 'openssl', needed: 'sign verity sysexts (--sign) and verify their signatures' },
};

export interface RunOptions {
  /** Why bake needs this tool; completes the "not found" message. */
  why?: string;
  /** Needs root: runs through sudo when bake itself is not root. */
  privileged?: boolean;
  /** Only reads: still runs under --dry-run. */
  readOnly?: boolean;
  /** Keeps running when the user presses Ctrl-C (cleanup must finish). Default: cancellable. */
  uncancellable?: boolean;
  /** Data for stdin: a string, bytes, or a stream (piped as it arrives). */
  input?: string | Uint8Array | Readable | undefined;
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Send stdout to this file (or FIFO) instead of capturing it. */
  stdoutFile?: string;
  /** Let the user see the command's output and answer its prompts. */
  inherit?: boolean;
  /** Return a failed result instead of throwing. */
  allowFailure?: boolean;
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** A command bake talks to while it runs (Runner.start). */
export interface RunningCommand {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Settles when the command has exited; rejects as `run` would have thrown. */
  exited: Promise<void>;
}

export interface Runner {
  run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /**
   * Starts a command with its stdin, stdout and stderr as streams (for a tool that takes commands one
   * batch at a time). Only `why`, `readOnly`, `cwd`, `env`, `privileged` and `allowFailure` apply; it
   * never runs under --dry-run unless it only reads.
   */
  start(file: string, args: readonly string[], options?: RunOptions): RunningCommand;
}

export interface RunnerOptions {
  log: Logger;
  dryRun?: boolean;
  signal?: AbortSignal;
  /** Override for tests; defaults to process.getuid() === 0. */
  isRoot?: boolean;
}

export function isRootUser(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** The argv that actually runs: `sudo --` is prepended for privileged commands when not root. */
export function commandLine(file: string, args: readonly string[], privileged: boolean, isRoot: boolean): string[] {
  return privileged && !isRoot ? ['sudo', '--', file, ...args] : [file, ...args];
}

export function quoteForLog(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

export function createRunner(options: RunnerOptions): Runner {
  const isRoot = options.isRoot ?? isRootUser();
  return {
    async run(file, args, runOptions = {}) {
      const argv = commandLine(file, args, runOptions.privileged ?? false, isRoot);
      const shown = quoteForLog(argv);
      if (options.dryRun && !runOptions.readOnly) {
        options.log.info(`would run: ${shown}`);
        return { stdout: '', stderr: '', exitCode: 0 };
      }
      // After Ctrl-C nothing new starts, except the cleanup steps (which are uncancellable).
      if (!runOptions.uncancellable && options.signal?.aborted)
        throw interruptedError(options.signal, `running ${file}`);
      options.log.debug(runOptions.stdoutFile ? `${shown} > ${runOptions.stdoutFile}` : shown);
      // stdout goes to the file as a plain descriptor, so the bytes never pass through (or pile up in) Node.
      const stdoutHandle = runOptions.stdoutFile ? await open(runOptions.stdoutFile, 'w') : undefined;
      // execa hands an integer descriptor straight to spawn (as documented) but types only 1 and 2.
      const stdout = (stdoutHandle ? stdoutHandle.fd : runOptions.inherit ? 'inherit' : 'pipe') as Options['stdout'];
      try {
        const result = await execa(argv[0]!, argv.slice(1), {
          ...withoutUndefined({
            cancelSignal: runOptions.uncancellable ? undefined : options.signal,
            input: runOptions.input,
            env: runOptions.env,
            cwd: runOptions.cwd,
            timeout: runOptions.timeoutMs,
          }),
          stdin: runOptions.inherit ? 'inherit' : runOptions.input === undefined ? 'ignore' : 'pipe',
          stdout,
          stderr: runOptions.inherit ? 'inherit' : 'pipe',
          stripFinalNewline: true,
          reject: false,
        });
        if (refused(result, runOptions.allowFailure)) throw result;
        return {
          stdout: String(result.stdout ?? ''),
          stderr: String(result.stderr ?? ''),
          exitCode: result.exitCode ?? 0,
        };
      } catch (error) {
        throw describeFailure(argv[0]!, file, runOptions.why, error as ExecaError, options.signal);
      } finally {
        await stdoutHandle?.close();
      }
    },
    start(file, args, runOptions = {}) {
      const argv = commandLine(file, args, runOptions.privileged ?? false, isRoot);
      if (options.dryRun && !runOptions.readOnly) throw new Error(`internal: ${file} started under --dry-run`);
      if (options.signal?.aborted) throw interruptedError(options.signal, `running ${file}`);
      options.log.debug(quoteForLog(argv));
      const child = execa(argv[0]!, argv.slice(1), {
        ...withoutUndefined({ cancelSignal: options.signal, env: runOptions.env, cwd: runOptions.cwd }),
        stdin: 'pipe',
        stdout: 'pipe',
        stderr: 'pipe',
        buffer: false,
        reject: false,
      });
      // A command that could not start, or exited early, fails through `exited`, not through its stdin.
      child.stdin.on('error', () => undefined);
      // With reject: false, a failed command's result is its ExecaError.
      const exited = child.then((result) => {
        if (result instanceof ExecaError && refused(result, runOptions.allowFailure))
          throw describeFailure(argv[0]!, file, runOptions.why, result, options.signal);
      });
      return { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, exited };
    },
  };
}

/**
 * Whether a result is a failure: allowFailure accepts a non-zero exit, never a missing tool, a timeout,
 * a signal or Ctrl-C.
 */
function refused(
  result: { failed: boolean; exitCode?: number | undefined },
  allowFailure: boolean | undefined,
): boolean {
  const exitedNonZero = result.exitCode !== undefined && result.exitCode !== 0;
  return result.failed && !(allowFailure && exitedNonZero);
}

/** What describeFailure reads of a failed execa result, however its options typed it. */
type Failure = Pick<ExecaError, 'isCanceled' | 'timedOut' | 'exitCode' | 'signal'> & {
  code?: string | undefined;
  stdout?: unknown;
  stderr?: unknown;
};

function describeFailure(
  spawned: string,
  tool: string,
  why: string | undefined,
  error: Failure,
  signal?: AbortSignal,
): BakeError {
  if (error.isCanceled || signal?.aborted) return interruptedError(signal, `running ${tool}`);
  if (error.code === 'ENOENT') {
    const pkg = HOST_TOOLS[spawned]?.package;
    const needed = why ? ` (needed to ${why})` : '';
    return new BakeError(
      'tool',
      `${spawned} not found${needed}`,
      pkg ? `install it, e.g. apt-get install ${pkg}` : 'install it and retry',
      'tool-missing',
    );
  }
  if (error.timedOut) return toolError(`${tool} timed out`);
  const detail = lastMeaningfulLine(String(error.stderr ?? '')) || lastMeaningfulLine(String(error.stdout ?? ''));
  const status = error.exitCode !== undefined ? `exit ${error.exitCode}` : `signal ${error.signal ?? 'unknown'}`;
  return toolError(`${tool} failed (${status})${detail ? `: ${detail}` : ''}`);
}

function lastMeaningfulLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.at(-1) ?? '';
}

/**
 * Checked up front, before anything large is downloaded, by the few steps that still need root (the
 * SDK vendor route runs Flatcar's privileged container; btrfs sysexts are built through a mount): root, or
 * sudo that asks no password (a prompt would stall a bake in the middle, or in CI, forever). `needs`
 * names them, for the message.
 */
export async function requirePrivileges(runner: Runner, needs: string, isRoot = isRootUser()): Promise<void> {
  if (isRoot) return;
  const hint = 'run bake as root, or allow this user passwordless sudo';
  const sudo = await runner
    .run('sudo', ['--non-interactive', 'true'], { readOnly: true, allowFailure: true, why: needs })
    .catch((error: unknown) => {
      if (error instanceof BakeError && error.kind === 'tool')
        throw toolError(`${needs} needs root or passwordless sudo, and sudo is not installed`, hint);
      throw error;
    });
  if (sudo.exitCode !== 0)
    throw toolError(
      `${needs} needs root or passwordless sudo (sudo said: ${lastMeaningfulLine(sudo.stderr) || `exit ${sudo.exitCode}`})`,
      hint,
    );
}

/** Finds an executable on PATH without running it, to pick among alternatives (lbzip2, pbzip2, bzip2). */
export async function findTool(name: string, path = process.env.PATH ?? ''): Promise<string | undefined> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}
