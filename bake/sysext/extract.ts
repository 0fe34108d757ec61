/**
 * Reading a sysext image without root: no loop device, no mount. Each format's userspace reader copies
 * the image (or one folder of it) into a private temp dir, and ownership is read from the image's own
 * metadata, since the copy belongs to whoever made it. The copy is as hostile as the image: callers
 * resolve paths in it with the in-root helpers, and nothing in it is run or trusted for ownership.
 * squashfs, erofs and ext4 are copied by their tools; btrfs, whose tools cannot copy an image with its
 * owners without root, by bake's own read-only reader (image/btrfs-read.ts), the image file read from
 * offset 0 (a sysext has no partition table).
 */
import { chmod, mkdir, open, readdir, stat, symlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Context } from '../context.ts';
import { tempDir } from '../core/cleanup.ts';
import { inputError } from '../core/errors.ts';
import { type BtrfsReader, type BtrfsStat, type BtrfsVisit, openBtrfs } from '../image/btrfs-read.ts';
import { Debugfs, debugfsArgument, debugfsQuote, parseStat } from '../image/e2fsprogs.ts';
import type { SysextFormat } from '../image/sysext-file.ts';
import { folderInside } from './confine.ts';
import { walkTree } from './tree.ts';

const WHY = 'read sysext images without root';

interface Reader {
  /** Copies `folder` (relative, no leading slash; '' for all) of `image` into `tree`, which exists. */
  extract(ctx: Context, image: string, tree: string, folder: string): Promise<void>;
  owners(ctx: Context, image: string, paths: readonly string[]): Promise<Map<string, number>>;
}

/**
 * A reader whose tool copies the image: `argv` makes the copy, and `okCodes` are the exit codes that
 * still mean it is there (unsquashfs: 2 for what a user cannot create, like device nodes).
 */
function toolExtract(
  format: SysextFormat,
  tool: string,
  argv: (image: string, tree: string, folder: string) => string[],
  okCodes: readonly number[] = [0],
): Reader['extract'] {
  return async (ctx, image, tree, folder) => {
    const result = await ctx.run.run(tool, argv(image, tree, folder), { readOnly: true, allowFailure: true, why: WHY });
    if (!okCodes.includes(result.exitCode)) {
      throw inputError(
        `${image} cannot be read as a ${format} image (${tool} exit ${result.exitCode})`,
        'rebuild it, or check that it was copied whole',
      );
    }
  };
}

const READERS: Record<SysextFormat, Reader> = {
  squashfs: {
    // -f: the tree exists; -no-xattrs: nothing from the image's xattrs lands on this host.
    extract: toolExtract(
      'squashfs',
      'unsquashfs',
      (image, tree, folder) => [
        '-no-xattrs',
        '-quiet',
        '-no-progress',
        '-f',
        '-d',
        tree,
        image,
        ...(folder ? [folder] : []),
      ],
      [0, 2],
    ),
    owners: squashfsOwners,
  },
  erofs: {
    // erofs-utils 1.5 extracts the whole image; --no-preserve: our own owner and umask, never the image's.
    extract: toolExtract('erofs', 'fsck.erofs', (image, tree) => [
      `--extract=${tree}`,
      '--no-preserve',
      '--overwrite',
      image,
    ]),
    owners: (ctx, image, paths) => ownersOneByOne(ctx, 'dump.erofs', paths, (path) => [`--path=/${path}`, image]),
  },
  ext4: {
    // rdump of a folder lands as <dest>/<its name>; of '/' its entries land in <dest> itself.
    extract: toolExtract('ext4', 'debugfs', (image, tree, folder) => [
      '-R',
      `rdump /${folder ? debugfsArgument(folder, image) : ''} ${debugfsArgument(join(tree, dirname(folder)), tree)}`,
      image,
    ]),
    owners: ext4Owners,
  },
  btrfs: {
    extract: (ctx, image, tree, folder) =>
      withBtrfsImage(ctx, image, (reader) =>
        reader.walk(folder, async (entry, copy) => {
          // The reader hands on plain component paths; each parent is checked to be a real folder too.
          const parent = await folderInside(tree, dirname(entry.path), image);
          await PLACE[entry.kind](ctx, join(parent, basename(entry.path)), entry, copy);
        }),
      ),
    owners: (ctx, image) =>
      withBtrfsImage(ctx, image, async (reader) => {
        const owners = new Map<string, number>();
        await reader.walk('', async (entry) => {
          owners.set(entry.path, entry.uid);
        });
        return owners;
      }),
  },
};

/** How each kind of btrfs entry lands in the copy: created anew at `path`, never through what is there. */
const PLACE: Record<
  BtrfsStat['kind'],
  (ctx: Context, path: string, ...visit: Parameters<BtrfsVisit>) => Promise<void>
> = {
  dir: async (_ctx, path) => {
    await mkdir(path, { mode: 0o700 });
  },
  link: async (_ctx, path, entry) => {
    await symlink(entry.target ?? '', path);
  },
  // Set-ID bits stay in the image; the copy is ours to read.
  file: async (_ctx, path, entry, copy) => {
    const file = await open(path, 'wx', (entry.mode & 0o777) | 0o600);
    try {
      await copy(async (bytes, position) => {
        await file.write(bytes, 0, bytes.length, position);
      });
      await file.truncate(entry.size);
    } catch (error) {
      // A size no file here can have is the image's claim, not a failure of bake's.
      if ((error as NodeJS.ErrnoException).code !== 'EFBIG') throw error;
      throw inputError(`/${entry.path} in the image claims ${entry.size} bytes, more than any file here can hold`);
    } finally {
      await file.close();
    }
  },
  // Device nodes, FIFOs and sockets are left out, as unsquashfs leaves out what a user cannot create.
  other: async (ctx, _path, entry) => {
    ctx.log.debug(`left out /${entry.path}: not a file, folder or link`);
  },
};

/** The image as a btrfs filesystem from its first byte, read by bake's reader; refusals are input errors. */
async function withBtrfsImage<T>(ctx: Context, image: string, use: (reader: BtrfsReader) => Promise<T>): Promise<T> {
  await using scratch = await tempDir('bake-btrfs');
  const file = await open(image, 'r');
  try {
    const { size } = await file.stat();
    const fail = (problem: string) =>
      inputError(
        `${image} cannot be read as a btrfs image: it ${problem}`,
        'rebuild it, or check that it was copied whole',
      );
    return await use(await openBtrfs({ file, offset: 0, size, fail, run: ctx.run, scratch: scratch.path }));
  } finally {
    await file.close();
  }
}

/**
 * Copies `folder` of the image ('' for all of it) into a private temp dir and passes the copy's root to
 * `use`; the copy is gone when `use` returns or throws. A folder the image lacks is simply not there.
 */
export async function withExtractedImage<T>(
  ctx: Context,
  image: string,
  format: SysextFormat,
  folder: string,
  use: (tree: string) => Promise<T>,
): Promise<T> {
  await using work = await tempDir('bake-extract');
  const tree = join(work.path, 'tree');
  await mkdir(join(tree, dirname(folder)), { recursive: true });
  await READERS[format].extract(ctx, image, tree, folder);
  await openFolders(tree);
  return await use(tree);
}

/** The uid the image gives each entry of the extracted copy (paths relative, no leading slash). */
export async function imageOwners(
  ctx: Context,
  image: string,
  format: SysextFormat,
  tree: string,
): Promise<Map<string, number>> {
  const paths = (await walkTree(tree)).map((entry) => entry.path);
  return READERS[format].owners(ctx, image, paths);
}

/** `unsquashfs -lln` lists every entry with its numeric owner in one pass. */
async function squashfsOwners(ctx: Context, image: string): Promise<Map<string, number>> {
  const { stdout } = await ctx.run.run('unsquashfs', ['-lln', '-no-xattrs', '-d', '', image], {
    readOnly: true,
    why: WHY,
  });
  const owners = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    // mode uid/gid size (or "major, minor" for devices) date time /path[ -> target]
    const match = /^(\S)\S+ (\d+)\/\d+ +[\d, ]+ \S+ \S+ \/(.+)$/.exec(line);
    if (!match) continue;
    const path = match[1] === 'l' ? match[3]!.replace(/ -> .*$/, '') : match[3]!;
    owners.set(path, Number(match[2]));
  }
  return owners;
}

/** debugfs stats every entry in one process, parsed as the install parses it. */
async function ext4Owners(ctx: Context, image: string, paths: readonly string[]): Promise<Map<string, number>> {
  const { size } = await stat(image);
  const fs = { image, partition: { offsetBytes: 0, sizeBytes: size }, label: image };
  await using debugfs = Debugfs.open(ctx, fs, { write: false });
  const { outputs } = await debugfs.session(paths.map((path) => `stat ${debugfsQuote(fs, `/${path}`)}`));
  const owners = new Map<string, number>();
  for (const [index, path] of paths.entries()) {
    const inode = parseStat(fs, `/${path}`, outputs[index]!);
    if (!inode) throw inputError(`debugfs could not tell who owns /${path}`, 'rebuild the image');
    owners.set(path, inode.uid);
  }
  return owners;
}

/** Tools whose listing is one inode per run: the owner from their `Uid:`/`User:` line. */
async function ownersOneByOne(
  ctx: Context,
  tool: string,
  paths: readonly string[],
  argv: (path: string) => string[],
): Promise<Map<string, number>> {
  const owners = new Map<string, number>();
  for (const path of paths) {
    const { stdout } = await ctx.run.run(tool, argv(path), { readOnly: true, why: WHY });
    const uid = /^(?:Uid|User):\s+(\d+)/m.exec(stdout);
    if (!uid) throw inputError(`${tool} could not tell who owns /${path}`, 'rebuild the image');
    owners.set(path, Number(uid[1]));
  }
  return owners;
}

/**
 * The copy keeps the image's folder modes, which are not ours to trust: one without read or write
 * permission would hide its entries from us, or stop the copy's removal.
 */
async function openFolders(dir: string): Promise<void> {
  await chmod(dir, 0o700);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await openFolders(join(dir, entry.name));
  }
}
