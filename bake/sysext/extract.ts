/**
 * Reading a sysext image without root: no loop device, no mount. Each format's userspace tool copies the
 * image (or one folder of it) into a private temp dir, and ownership is read from the image's own
 * metadata, since the copy belongs to whoever made it. The copy is as hostile as the image: callers
 * resolve paths in it with the in-root helpers, and nothing in it is run or trusted for ownership.
 * btrfs is still mounted, as root: `btrfs restore -S` copies an image file without root too, but its
 * owners would have to be read from `btrfs inspect-internal dump-tree`, which is not wired up yet.
 */
import { chmod, mkdir, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Context } from '../context.ts';
import { tempDir } from '../core/cleanup.ts';
import { inputError } from '../core/errors.ts';
import { debugfsArgument } from '../image/e2fsprogs.ts';
import type { SysextFormat } from '../image/sysext-file.ts';
import { walkTree } from './tree.ts';

export type UserspaceFormat = Exclude<SysextFormat, 'btrfs'>;

export function readableWithoutRoot(format: SysextFormat): format is UserspaceFormat {
  return format !== 'btrfs';
}

interface Reader {
  tool: string;
  /** argv that copies `folder` (relative, no leading slash; '' for all) of `image` into `tree`, which exists. */
  extract(image: string, tree: string, folder: string): string[];
  /** Exit codes that still mean the copy is there (unsquashfs: 2 for what a user cannot create, like device nodes). */
  okCodes: readonly number[];
  owners(ctx: Context, image: string, paths: readonly string[]): Promise<Map<string, number>>;
}

/** debugfs reads its request with its own quoting: inside double quotes, "" is one quote. */

const READERS: Record<UserspaceFormat, Reader> = {
  squashfs: {
    tool: 'unsquashfs',
    // -f: the tree exists; -no-xattrs: nothing from the image's xattrs lands on this host.
    extract: (image, tree, folder) => [
      '-no-xattrs',
      '-quiet',
      '-no-progress',
      '-f',
      '-d',
      tree,
      image,
      ...(folder ? [folder] : []),
    ],
    okCodes: [0, 2],
    owners: squashfsOwners,
  },
  erofs: {
    tool: 'fsck.erofs',
    // erofs-utils 1.5 extracts the whole image; --no-preserve: our own owner and umask, never the image's.
    extract: (image, tree) => [`--extract=${tree}`, '--no-preserve', '--overwrite', image],
    okCodes: [0],
    owners: (ctx, image, paths) => ownersOneByOne(ctx, 'dump.erofs', paths, (path) => [`--path=/${path}`, image]),
  },
  ext4: {
    tool: 'debugfs',
    // rdump of a folder lands as <dest>/<its name>; of '/' its entries land in <dest> itself.
    extract: (image, tree, folder) => [
      '-R',
      `rdump /${folder ? debugfsArgument(folder, image) : ''} ${debugfsArgument(join(tree, dirname(folder)), tree)}`,
      image,
    ],
    okCodes: [0],
    owners: (ctx, image, paths) =>
      ownersOneByOne(ctx, 'debugfs', paths, (path) => ['-R', `stat ${debugfsArgument(`/${path}`, image)}`, image]),
  },
};

/**
 * Copies `folder` of the image ('' for all of it) into a private temp dir and passes the copy's root to
 * `use`; the copy is gone when `use` returns or throws. A folder the image lacks is simply not there.
 */
export async function withExtractedImage<T>(
  ctx: Context,
  image: string,
  format: UserspaceFormat,
  folder: string,
  use: (tree: string) => Promise<T>,
): Promise<T> {
  await using work = await tempDir('bake-extract');
  const tree = join(work.path, 'tree');
  await mkdir(join(tree, dirname(folder)), { recursive: true });
  const reader = READERS[format];
  const result = await ctx.run.run(reader.tool, reader.extract(image, tree, folder), {
    readOnly: true,
    allowFailure: true,
    why: 'read sysext images without root',
  });
  if (!reader.okCodes.includes(result.exitCode)) {
    throw inputError(
      `${image} cannot be read as a ${format} image (${reader.tool} exit ${result.exitCode})`,
      'rebuild it, or check that it was copied whole',
    );
  }
  await openFolders(tree);
  return await use(tree);
}

/** The uid the image gives each entry of the extracted copy (paths relative, no leading slash). */
export async function imageOwners(
  ctx: Context,
  image: string,
  format: UserspaceFormat,
  tree: string,
): Promise<Map<string, number>> {
  const paths = (await walkTree(tree)).map((entry) => entry.path);
  return READERS[format].owners(ctx, image, paths);
}

/** `unsquashfs -lln` lists every entry with its numeric owner in one pass. */
async function squashfsOwners(ctx: Context, image: string): Promise<Map<string, number>> {
  const { stdout } = await ctx.run.run('unsquashfs', ['-lln', '-no-xattrs', '-d', '', image], {
    readOnly: true,
    why: 'read sysext images without root',
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

/** Tools whose listing is one inode per run: the owner from their `Uid:`/`User:` line. */
async function ownersOneByOne(
  ctx: Context,
  tool: string,
  paths: readonly string[],
  argv: (path: string) => string[],
): Promise<Map<string, number>> {
  const owners = new Map<string, number>();
  for (const path of paths) {
    const { stdout } = await ctx.run.run(tool, argv(path), { readOnly: true, why: 'read sysext images without root' });
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
