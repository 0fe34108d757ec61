/**
 * OEM's btrfs, edited without a mount: btrfs-progs have no offline writer, so OEM is copied out of the
 * image, its tree read out with `btrfs restore` (links, owners, modes, times, xattrs), the install (or
 * the native vendor route's OEM files) is applied to that private tree (resolved inside it, as on a
 * mounted OEM), and the partition is rebuilt with `mkfs.btrfs --rootdir` under the old label, UUID,
 * sector and node size, checksum and features, checked, and copied back into its byte range.
 *
 * Not kept: the `compression` property Flatcar sets on OEM's top directory (an xattr, `btrfs.compression`,
 * that new files inherit). restore cannot write a btrfs.* xattr onto the host's tree, and mkfs.btrfs
 * (6.2) has no option to set one, so files written later to /oem are stored uncompressed; every file
 * reads the same.
 *
 * restore and mkfs run in a user namespace that maps the user to root (`unshare -r`): restore can then
 * give the tree root's ownership, and mkfs records what it sees, so OEM stays root:root without root.
 * Owners other than root are not kept (Flatcar's OEM has none).
 */
import { mkdir, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Context } from '../context.ts';
import { type CleanupStack, tempDir } from '../core/cleanup.ts';
import { spaceError, toolError } from '../core/errors.ts';
import type { GptPartition } from './gpt.ts';
import { hostTreeStore, type PartitionStore } from './in-root.ts';
import { copyPartitionBack, copyPartitionOut } from './partition-file.ts';

export interface BtrfsAtOffset {
  image: string;
  partition: GptPartition;
  label: string;
}

/** What the rebuilt filesystem must keep, from the superblock. */
interface Superblock {
  label: string;
  fsid: string;
  sectorsize: string;
  nodesize: string;
  csum: string;
  incompat: bigint;
  compatRo: bigint;
  totalBytes: number;
  bytesUsed: number;
  /** Block group profiles (single, dup, ...), from the chunk tree. */
  dataProfile: string;
  metadataProfile: string;
}

/** The features mkfs.btrfs can set, by superblock flag: mkfs turns each on or (`^`) off. */
const FEATURES: ReadonlyArray<{ field: 'incompat' | 'compatRo'; flag: bigint; option: '-O' | '-R'; name: string }> = [
  { field: 'incompat', flag: 0x40n, option: '-O', name: 'extref' },
  { field: 'incompat', flag: 0x80n, option: '-O', name: 'raid56' },
  { field: 'incompat', flag: 0x100n, option: '-O', name: 'skinny-metadata' },
  { field: 'incompat', flag: 0x200n, option: '-O', name: 'no-holes' },
  { field: 'compatRo', flag: 0x1n, option: '-R', name: 'free-space-tree' },
];
const MIB = 1024 * 1024;
/** Mixed block groups: said with --mixed, which also sizes a --rootdir filesystem the mixed way (-O mixed-bg does not). */
const MIXED_GROUPS = 0x4n;
/** Compression flags record that compressed extents exist; mkfs writes none, and the kernel reads either. */
const COMPRESSION_FLAGS = 0x8n | 0x10n;

async function readSuperblock(ctx: Context, file: string, label: string): Promise<Superblock> {
  const { stdout } = await ctx.run.run('btrfs', ['inspect-internal', 'dump-super', file], {
    readOnly: true,
    why: `read ${label}'s superblock`,
  });
  const field = (name: string) => {
    const value = new RegExp(`^${name}\\t+(.*)$`, 'm').exec(stdout)?.[1];
    if (value === undefined)
      throw toolError(`btrfs dump-super reported no ${name} for ${label}`, 'is this a btrfs filesystem?');
    return value.trim();
  };
  return {
    label: field('label'),
    fsid: field('fsid'),
    sectorsize: field('sectorsize'),
    nodesize: field('nodesize'),
    csum: /\(([a-z0-9]+)\)/.exec(field('csum_type'))?.[1] ?? 'crc32c',
    incompat: BigInt(field('incompat_flags')),
    compatRo: BigInt(field('compat_ro_flags')),
    totalBytes: Number(field('total_bytes')),
    bytesUsed: Number(field('bytes_used')),
    ...(await readProfiles(ctx, file, label)),
  };
}

/** `type DATA|METADATA|single` and the like, one per chunk; a type without a profile is single. */
async function readProfiles(
  ctx: Context,
  file: string,
  label: string,
): Promise<{ dataProfile: string; metadataProfile: string }> {
  const { stdout } = await ctx.run.run('btrfs', ['inspect-internal', 'dump-tree', '-t', 'chunk', file], {
    readOnly: true,
    why: `read ${label}'s block group profiles`,
  });
  const types = [...stdout.matchAll(/\btype ([A-Z0-9|]+)/gi)].map((match) => match[1]!.toLowerCase().split('|'));
  const profileOf = (kind: string) => {
    const type = types.find((parts) => parts.includes(kind));
    if (!type) throw toolError(`${label} has no ${kind} block group`, 'is this a btrfs filesystem?');
    return type.find((part) => !['data', 'metadata', 'system'].includes(part)) ?? 'single';
  };
  return { dataProfile: profileOf('data'), metadataProfile: profileOf('metadata') };
}

/** mkfs.btrfs options that rebuild a filesystem like `old`. */
function mkfsOptions(old: Superblock): string[] {
  const features = (option: '-O' | '-R') =>
    FEATURES.filter((f) => f.option === option)
      .map((f) => `${(old[f.field] & f.flag) !== 0n ? '' : '^'}${f.name}`)
      .join(',');
  return [
    '-q',
    '-L',
    old.label,
    '-U',
    old.fsid,
    '-s',
    old.sectorsize,
    '-n',
    old.nodesize,
    '--csum',
    old.csum,
    '-d',
    old.dataProfile,
    '-m',
    old.metadataProfile,
    ...((old.incompat & MIXED_GROUPS) !== 0n ? ['--mixed'] : []),
    '-O',
    features('-O'),
    '-R',
    features('-R'),
  ];
}

export interface OfflineBtrfs {
  store: PartitionStore;
  /** At most this much fits (size less bytes used); the rebuild in finish() is the exact check. */
  freeBytes: number;
  /** Rebuilds the partition from the edited tree, checks it, and writes it back into the image. */
  finish(): Promise<void>;
}

/** OEM read out into a private tree (released by `stack`), ready to be written and rebuilt. */
export async function openBtrfsOffline(ctx: Context, stack: CleanupStack, fs: BtrfsAtOffset): Promise<OfflineBtrfs> {
  const work = await tempDir('.bake-oem', dirname(fs.image));
  stack.defer(`remove ${work.path}`, async () => await work[Symbol.asyncDispose]());
  const [copy, tree, rebuilt] = ['oem.img', 'tree', 'rebuilt.img'].map((name) => join(work.path, name)) as [
    string,
    string,
    string,
  ];
  const why = `edit ${fs.label} without mounting it`;
  await copyPartitionOut(ctx, fs.image, fs.partition, copy, why);
  const old = await readSuperblock(ctx, copy, fs.label);
  await mkdir(tree, { mode: 0o755 });
  await ctx.run.run('unshare', ['-r', 'btrfs', 'restore', '-S', '-m', '-x', copy, tree], {
    why: `read ${fs.label}'s files without mounting it`,
  });
  return {
    store: hostTreeStore(ctx, tree, fs.label, { privileged: false }),
    freeBytes: Math.max(0, old.totalBytes - old.bytesUsed),
    async finish() {
      await writeFile(rebuilt, '');
      await truncate(rebuilt, fs.partition.sizeBytes);
      await ctx.run.run(
        'unshare',
        [
          '-r',
          'mkfs.btrfs',
          ...mkfsOptions(old),
          '--byte-count',
          String(fs.partition.sizeBytes),
          '--rootdir',
          tree,
          rebuilt,
        ],
        { why: `rebuild ${fs.label} with the sysexts` },
      );
      await checkRebuilt(ctx, old, rebuilt, fs);
      await copyPartitionBack(ctx, rebuilt, fs.image, fs.partition, why);
    },
  };
}

/** The rebuilt filesystem is sound and has what the old one had: label, UUID, size, block sizes, profiles, features. */
async function checkRebuilt(
  ctx: Context,
  old: Superblock,
  rebuilt: string,
  { label, partition }: BtrfsAtOffset,
): Promise<void> {
  // mkfs.btrfs --rootdir grows the file rather than fail when the tree does not fit.
  const excess = (await stat(rebuilt)).size - partition.sizeBytes;
  if (excess > 0)
    throw spaceError(
      `the sysexts do not fit on ${label}: it would need ${(excess / MIB).toFixed(1)} MiB more than its ${(partition.sizeBytes / MIB).toFixed(1)} MiB`,
      'install them to ROOT (--install_to root:/opt/extensions) or bake fewer',
    );
  await ctx.run.run('btrfs', ['check', '--readonly', rebuilt], {
    readOnly: true,
    why: `check the ${label} filesystem`,
  });
  const now = await readSuperblock(ctx, rebuilt, label);
  const kept = (sb: Superblock) =>
    [
      sb.label,
      sb.fsid,
      sb.totalBytes,
      sb.sectorsize,
      sb.nodesize,
      sb.csum,
      sb.dataProfile,
      sb.metadataProfile,
      sb.incompat & ~COMPRESSION_FLAGS,
      sb.compatRo,
    ].join(' ');
  if (kept(now) !== kept(old))
    throw toolError(
      `mkfs.btrfs rebuilt ${label} differently (${kept(now)} instead of ${kept(old)})`,
      "report this with `btrfs inspect-internal dump-super` of the base image's OEM",
    );
}
