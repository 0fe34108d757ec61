/**
 * Paths inside a partition of the image, resolved the way the booted system resolves them: component
 * by component, a symlink's absolute target meaning the partition's root (never the host's), `..` never
 * climbing above that root, at most 40 links (the kernel's limit). The base image is input from
 * outside, so a link that would lead into another partition, a loop or a file used as a directory is
 * refused rather than followed.
 *
 * The resolver reads the tree through TreeView (lstat and readlink by in-root path), so it works on a
 * mounted partition and on an offline filesystem editor alike (ext4-offline.ts). The writers then only
 * ever name resolved, link-free parents and create the last component without following it, through a
 * PartitionStore: a mounted one here, debugfs on an unmounted ext4 in ext4-offline.ts (which queues its
 * writes until flush and reads in batches, so preload before and flush after). A writer is held with
 * `await using`: one left with queued writes fails loudly instead of losing them (see InRootWriter).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readlink, writeFile } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Context } from '../context.ts';
import { tempDir } from '../core/cleanup.ts';
import { type BakeError, inputError } from '../core/errors.ts';

export type EntryKind = 'dir' | 'file' | 'link' | 'other';

/** A filesystem tree, read by absolute in-root paths whose parents are already resolved directories. */
export interface TreeView {
  /** What is at `path` without following it; undefined when nothing is. */
  kind(path: string): Promise<EntryKind | undefined>;
  readlink(path: string): Promise<string>;
  /** A tree that pays per read (a debugfs process) reads many paths at once, then answers from memory. */
  readonly batch?: TreeBatch;
}

export interface TreeBatch {
  /** Reads the entries at `paths` (and their parents), kinds and link targets, in one go. */
  load(paths: readonly string[]): Promise<void>;
  /** Whether kind and readlink of `path` are answered without another read. */
  loaded(path: string): boolean;
}

export interface PartitionRules {
  /** For messages: ROOT, OEM, the sysext. */
  label: string;
  /** In-root directories that are other partitions in the booted OS: resolution never enters them. */
  foreign: readonly string[];
}

/** The kernel's MAXSYMLINKS. */
export const MAX_LINKS = 40;

export interface ResolveOptions {
  /** Follow a symlink in the last component (reading a file), or leave it (replacing it). */
  followLast: boolean;
}

/**
 * The in-root path `path` leads to, with no symlink in any existing component (nor in the last one
 * when followLast). Components that do not exist yet are kept as given, ready to be created.
 */
export async function resolveInRoot(
  tree: TreeView,
  rules: PartitionRules,
  path: string,
  options: ResolveOptions,
): Promise<string> {
  const refuse = (problem: string) => refusal(rules, path, problem);
  let done: string[] = [];
  const todo = path.split('/').filter(Boolean);
  let links = 0;
  let missing = false;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      if (missing) throw refuse(`'..' follows /${done.join('/')}, which does not exist`);
      done.pop();
      continue;
    }
    const candidate = `/${[...done, part].join('/')}`;
    const foreign = rules.foreign.find((dir) => candidate === dir || candidate.startsWith(`${dir}/`));
    if (foreign) throw refuse(`it leads to ${candidate}, where another partition is mounted in the booted OS`);
    const kind: EntryKind | undefined = missing ? undefined : await lookup(tree, candidate, todo);
    if (kind === 'link' && (todo.length > 0 || options.followLast)) {
      if (++links > MAX_LINKS) throw refuse(`more than ${MAX_LINKS} symlinks (a loop?)`);
      const target = await tree.readlink(candidate);
      if (target === '') throw refuse(`${candidate} is an empty symlink`);
      if (target.startsWith('/')) done = [];
      todo.unshift(...target.split('/').filter(Boolean));
      continue;
    }
    if (kind !== undefined && kind !== 'dir' && todo.length > 0) throw refuse(`${candidate} is not a directory`);
    missing ||= kind === undefined;
    done.push(part);
  }
  return `/${done.join('/')}`;
}

/** Thrown by preloadResolution's view at the first path its tree has not read yet. */
class NotLoaded {
  /** The components resolution would look at next, as far as they are plain names. */
  next: string[] = [];
  constructor(readonly path: string) {}

  /** The path not read yet, and the plain path below it that resolution is heading for. */
  paths(): string[] {
    const end = this.next.findIndex((part) => part === '.' || part === '..' || /[\0\n\r]/.test(part));
    const below = end < 0 ? this.next : this.next.slice(0, end);
    return [this.path, posix.join(this.path, ...below)];
  }
}

/** tree.kind; a preload's NotLoaded learns what would be looked at next, to read it in the same batch. */
async function lookup(tree: TreeView, path: string, todo: readonly string[]): Promise<EntryKind | undefined> {
  try {
    return await tree.kind(path);
  } catch (error) {
    if (error instanceof NotLoaded) error.next = [...todo];
    throw error;
  }
}

/**
 * Reads into a batching tree everything that resolving `paths` (to create them) looks at, a batch per
 * round: first every path and its parents as written, then where the links found lead, until every
 * resolution runs from memory. The rounds depend on how deep links lead, not on how many paths there are.
 * Resolutions refused here are left to the write, which refuses them again.
 */
export async function preloadResolution(tree: TreeView, rules: PartitionRules, paths: readonly string[]) {
  const { batch } = tree;
  if (!batch) return;
  const fromMemory: TreeView = {
    kind: async (path) => (batch.loaded(path) ? tree.kind(path) : Promise.reject(new NotLoaded(path))),
    readlink: async (path) => (batch.loaded(path) ? tree.readlink(path) : Promise.reject(new NotLoaded(path))),
  };
  const asked = new Set<string>();
  let wanted = [...paths];
  while (wanted.length > 0) {
    for (const path of wanted) asked.add(path);
    await batch.load(wanted);
    const misses = await Promise.all(
      paths.map((path) =>
        resolveInRoot(fromMemory, rules, path, { followLast: false }).then(
          (): string[] => [],
          (error: unknown) => (error instanceof NotLoaded ? error.paths() : []),
        ),
      ),
    );
    // A path read once and still missing is not below a directory: the write will say so.
    wanted = misses.flat().filter((path) => !asked.has(path));
  }
}

function refusal(rules: PartitionRules, path: string, problem: string): BakeError {
  return inputError(
    `${rules.label}:${path} cannot be resolved inside ${rules.label}: ${problem}`,
    'bake follows links only within their own partition or image; check where this one leads',
  );
}

/** A tree mounted on the host at `hostRoot`. */
export function mountedTree(hostRoot: string): TreeView {
  return {
    async kind(path) {
      const info = await lstat(hostPath(hostRoot, path)).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (!info) return undefined;
      return info.isSymbolicLink() ? 'link' : info.isDirectory() ? 'dir' : info.isFile() ? 'file' : 'other';
    },
    readlink: (path) => readlink(hostPath(hostRoot, path)),
  };
}

/** The host path of a resolved in-root path (absolute, without `..`, as resolveInRoot returns it). */
function hostPath(hostRoot: string, resolved: string): string {
  return posix.join(hostRoot, resolved);
}

/** Reads a file inside a mounted tree, following links only within it; the final open does not follow. */
export async function readInRoot(hostRoot: string, rules: PartitionRules, path: string): Promise<string> {
  const resolved = await resolveInRoot(mountedTree(hostRoot), rules, path, { followLast: true });
  const file = await open(hostPath(hostRoot, resolved), constants.O_RDONLY | constants.O_NOFOLLOW).catch(
    (error: NodeJS.ErrnoException) => {
      throw error.code === 'ENOENT' ? refusal(rules, path, `nothing is at ${resolved}`) : error;
    },
  );
  try {
    return await file.readFile('utf8');
  } finally {
    await file.close();
  }
}

export interface WriteOptions {
  /** Keep the source's modification time (install -p), as image_to_vm.sh does for the OEM sysext. */
  preserveTimes?: boolean;
}

/**
 * How a writer changes one partition: its tree (for resolution), and the three ways it changes it. Every
 * path it receives is resolved, with a link-free, existing parent; the last component is created, or
 * replaced without being followed. Everything it makes is root-owned, as a mounted install by root.
 */
export interface PartitionStore {
  readonly tree: TreeView;
  /** Creates the directory `path`, 0755. */
  mkdir(path: string): Promise<void>;
  /** Puts a copy of the host file `from` at `path`, 0644, replacing a file or link there. */
  putFile(from: string, path: string, options: WriteOptions): Promise<void>;
  /** Makes `path` a symlink to `target` (stored as given), replacing a file or link there. */
  putSymlink(target: string, path: string): Promise<void>;
  /** Applies what the store queued (a store may defer its writes, and the reads of `from`, until then). */
  flush(): Promise<void>;
  /** Whether writes are queued that only flush applies. */
  pending(): boolean;
}

/**
 * Writes into one partition through a PartitionStore: every path is resolved inside it first, missing
 * directories are created one at a time, and each file or link is put at the resolved, link-free path.
 *
 * Held with `await using`. A store may queue its writes until flush, so a writer disposed with writes
 * still queued throws an internal error: a forgotten flush would lose them without a word. A disposer
 * cannot see whether an error is unwinding its scope, so the writer remembers its own failures and a
 * caller whose write phase failed elsewhere says so with `abandon()`: on those paths the queued writes are
 * dropped and the run's own error comes out, not this one.
 */
export class InRootWriter implements AsyncDisposable {
  /** A write failed, or the caller gave up: disposal then leaves what is queued unapplied, without a word. */
  private abandoned = false;

  constructor(
    private readonly store: PartitionStore,
    private readonly rules: PartitionRules,
  ) {}

  /** Reads at once what writing `paths` will look at, for a store whose tree reads in batches. */
  preload(paths: readonly string[]): Promise<void> {
    return this.watched(() => preloadResolution(this.store.tree, this.rules, paths));
  }

  /** Applies every queued write: call it before anything else reads the partition. */
  flush(): Promise<void> {
    return this.watched(() => this.store.flush());
  }

  /** The write phase failed outside this writer: its queued writes are to be dropped, not reported. */
  abandon(): void {
    this.abandoned = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.abandoned || !this.store.pending()) return;
    throw new Error(`internal: ${this.rules.label}'s writer was disposed with writes queued; flush it first`);
  }

  /** Copies a host file to `path`, root-owned 0644. */
  installFile(from: string, path: string, options: WriteOptions = {}): Promise<void> {
    return this.watched(async () => this.store.putFile(from, await this.entryPath(path), options));
  }

  /** Writes `text` to `path`, root-owned 0644 (staged in a host temp file, flushed before it goes). */
  async writeText(path: string, text: string): Promise<void> {
    await using scratch = await tempDir('bake-text');
    const source = posix.join(scratch.path, posix.basename(path));
    await writeFile(source, text);
    await this.installFile(source, path);
    await this.flush();
  }

  /** Makes `path` a symlink to `target` (an OS path, stored as given), replacing what was there. */
  symlink(target: string, path: string): Promise<void> {
    return this.watched(async () => this.store.putSymlink(target, await this.entryPath(path)));
  }

  /** Runs one write; if it fails, the run is unwinding and the queue is abandoned. */
  private async watched<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      this.abandon();
      throw error;
    }
  }

  /** The resolved path of the entry `path` names, its parent created; never an existing directory. */
  private async entryPath(path: string): Promise<string> {
    const name = posix.basename(path);
    if (name === '' || name === '.' || name === '..') throw refusal(this.rules, path, 'it names no file');
    const parent = await this.ensureDir(posix.dirname(path));
    const final = posix.join(parent, name);
    if ((await this.store.tree.kind(final)) === 'dir') throw refusal(this.rules, path, `${final} is a directory`);
    return final;
  }

  /** Resolves a directory, creating what is missing, and checks the result is still a link-free path. */
  private async ensureDir(path: string): Promise<string> {
    const { tree } = this.store;
    const resolved = await resolveInRoot(tree, this.rules, path, { followLast: true });
    const parts = resolved.split('/').filter(Boolean);
    for (let depth = 1; depth <= parts.length; depth++) {
      const prefix = `/${parts.slice(0, depth).join('/')}`;
      if ((await tree.kind(prefix)) === undefined) await this.store.mkdir(prefix);
    }
    const again = await resolveInRoot(tree, this.rules, resolved, { followLast: true });
    if (again !== resolved || (await tree.kind(resolved)) !== 'dir')
      throw refusal(this.rules, path, `${resolved} changed while bake created it`);
    return resolved;
  }
}

/**
 * A partition tree on the host (mounted, or a private copy): each file or link is made under a fresh
 * name in its resolved parent and renamed over the target (`mv -T`), which replaces a link instead of
 * following it. A mounted partition is written through the privileged runner (so sudo keeps working)
 * and given to root; a private copy is written as the user, whose files its builder maps to root.
 */
export function hostTreeStore(
  ctx: Context,
  hostRoot: string,
  label: string,
  { privileged }: { privileged: boolean },
): PartitionStore {
  const run = (file: string, args: string[], uncancellable = false) =>
    ctx.run.run(file, args, { privileged, why: `write into ${label}`, uncancellable });
  const owner = privileged ? ['-o', '0', '-g', '0'] : [];
  const put = async (path: string, make: (temporary: string) => Promise<unknown>) => {
    const temporary = hostPath(hostRoot, posix.join(posix.dirname(path), `.bake-${randomBytes(8).toString('hex')}`));
    try {
      await make(temporary);
      await run('mv', ['-Tf', temporary, hostPath(hostRoot, path)]);
    } catch (error) {
      await run('rm', ['-f', temporary], true);
      throw error;
    }
  };
  return {
    tree: mountedTree(hostRoot),
    mkdir: async (path) => void (await run('mkdir', ['-m', '0755', hostPath(hostRoot, path)])),
    putFile: (from, path, options) =>
      put(path, (temporary) =>
        run('install', ['-m', '0644', ...owner, ...(options.preserveTimes ? ['-p'] : []), '-T', from, temporary]),
      ),
    putSymlink: (target, path) => put(path, (temporary) => run('ln', ['-sn', target, temporary])),
    flush: async () => undefined,
    pending: () => false,
  };
}
