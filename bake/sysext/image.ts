/**
 * Turning a sysext tree into a filesystem image, one row per format. Each row names the host tools it
 * needs and whether two builds of the same tree are byte-identical (all are: btrfs only after
 * btrfs-pin.ts rewrites what mkfs.btrfs leaves random).
 */
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import { CleanupStack } from '../core/cleanup.ts';
import { usageError } from '../core/errors.ts';
import { mountImageReadOnly } from '../image/disk.ts';
import { pinBtrfsImage } from './btrfs-pin.ts';
import { type TreeEntry, treeBytes } from './tree.ts';

export type ImageFormat = 'squashfs' | 'erofs' | 'btrfs' | 'ext4' | 'ext2';

export interface ImageJob {
  tree: string;
  output: string;
  epoch: number;
  /** The normalised tree listing (see tree.ts), for formats that post-process every inode. */
  entries: readonly TreeEntry[];
  /** Scratch directory owned by the caller. */
  scratch: string;
  /** Filesystem size before shrinking (--ext-fs-size), for formats that take one; default from the tree. */
  size?: number;
}

interface FormatSpec {
  tools: string[];
  reproducible: boolean;
  /** Whether the filesystem is created at a size first (then shrunk), so --ext-fs-size applies. */
  sized: boolean;
  /** Read-only, so a verity DDI can carry it (--verity, --sign): systemd mounts it from a dm-verity device. */
  ddiPayload: boolean;
  /**
   * Built through a mount (btrfs: see buildBtrfs), so it needs root or passwordless sudo. mkfs.btrfs
   * --rootdir from an unprivileged copy of the tree would take the host's inode numbers and directory
   * order, and the image would no longer be reproducible.
   */
  needsRoot: boolean;
  build(ctx: Context, job: ImageJob): Promise<void>;
}

/** Fixed filesystem UUIDs: a random one per build would make every image unique. */
const FIXED_UUID = '00000000-0000-0000-0000-000000000000';
const FIXED_HASH_SEED = '00000000-0000-0000-0000-000000000001';

export const IMAGE_FORMATS: Record<ImageFormat, FormatSpec> = {
  squashfs: {
    tools: ['mksquashfs'],
    reproducible: true,
    sized: false,
    ddiPayload: true,
    needsRoot: false,
    build: buildSquashfs,
  },
  erofs: {
    tools: ['mkfs.erofs'],
    reproducible: true,
    sized: false,
    ddiPayload: true,
    needsRoot: false,
    build: buildErofs,
  },
  btrfs: {
    tools: ['mksquashfs', 'mkfs.btrfs'],
    reproducible: true,
    sized: true,
    ddiPayload: false,
    needsRoot: true,
    build: buildBtrfs,
  },
  ext4: {
    tools: ['mkfs.ext4', 'resize2fs', 'debugfs'],
    reproducible: true,
    sized: true,
    ddiPayload: false,
    needsRoot: false,
    build: (ctx, job) => buildExt(ctx, job, 'ext4'),
  },
  ext2: {
    tools: ['mkfs.ext2', 'resize2fs', 'debugfs'],
    reproducible: true,
    sized: true,
    ddiPayload: false,
    needsRoot: false,
    build: (ctx, job) => buildExt(ctx, job, 'ext2'),
  },
};

export function parseFormat(value: string): ImageFormat {
  if (value in IMAGE_FORMATS) return value as ImageFormat;
  throw usageError(`unknown image format '${value}'`, `use one of: ${Object.keys(IMAGE_FORMATS).join(', ')}`);
}

export async function buildImage(ctx: Context, format: ImageFormat, job: ImageJob): Promise<void> {
  await IMAGE_FORMATS[format].build(ctx, job);
}

let squashfsXattrExclusion: Promise<boolean> | undefined;

/** `-xattrs-exclude` arrived in mksquashfs 4.6.1; older ones (Debian 12 has 4.5.1) reject it. */
function supportsXattrExclusion(ctx: Context): Promise<boolean> {
  squashfsXattrExclusion ??= ctx.run
    .run('mksquashfs', ['-version'], { readOnly: true, why: 'build squashfs sysext images', allowFailure: true })
    .then(({ stdout }) => {
      const [major = 0, minor = 0, patch = 0] = (/version (\d+)\.(\d+)(?:\.(\d+))?/.exec(stdout) ?? [])
        .slice(1)
        .map(Number);
      return major * 10_000 + minor * 100 + patch >= 40_601;
    });
  return squashfsXattrExclusion;
}

async function buildSquashfs(ctx: Context, job: ImageJob, { compress = true } = {}): Promise<void> {
  // btrfs.* xattrs (compression hints) from a btrfs build host mean nothing on Flatcar and break reproducibility.
  const xattrs = (await supportsXattrExclusion(ctx)) ? ['-xattrs-exclude', '^btrfs.'] : [];
  const compression = compress ? [] : ['-noI', '-noD', '-noF', '-noX'];
  await ctx.run.run(
    'mksquashfs',
    [job.tree, job.output, '-all-root', '-noappend', '-quiet', ...compression, ...xattrs],
    {
      why: 'build squashfs sysext images',
      env: { SOURCE_DATE_EPOCH: String(job.epoch) },
    },
  );
}

async function buildErofs(ctx: Context, job: ImageJob): Promise<void> {
  // erofs-utils 1.5 ignores SOURCE_DATE_EPOCH: -T pins every timestamp, -U the UUID.
  const args = ['--quiet', '--all-root', `-T${job.epoch}`, '-U', FIXED_UUID, '-zlz4hc,12', '-C65536', '-Eztailpacking'];
  await ctx.run.run('mkfs.erofs', [...args, job.output, job.tree], { why: 'build erofs sysext images' });
}

/**
 * mkfs.btrfs --rootdir numbers inodes after the source's (6.2: its inode number + 256) and adds them in
 * the source's directory order, both accidents of the build host. So it reads the tree from an
 * uncompressed squashfs of it, mounted, whose inode numbers, order and times follow from the content
 * alone; then btrfs-pin.ts pins what mkfs itself leaves random.
 */
async function buildBtrfs(ctx: Context, job: ImageJob): Promise<void> {
  const staged = join(job.scratch, 'btrfs-source.squashfs');
  await buildSquashfs(ctx, { ...job, output: staged }, { compress: false });
  await using stack = new CleanupStack(ctx.log);
  const source = await mountImageReadOnly(ctx, stack, staged, 'read the tree in a fixed order for mkfs.btrfs');
  // mkfs.btrfs needs a file at least as large as its minimum; --shrink trims it to what the tree needs.
  await writeFile(job.output, '');
  await truncate(job.output, job.size ?? Math.max(256 << 20, Math.ceil(treeBytes(job.entries) * 1.5)));
  await ctx.run.run('mkfs.btrfs', ['-q', '-f', '-U', FIXED_UUID, '--rootdir', source, '--shrink', job.output], {
    why: 'build btrfs sysext images',
  });
  await pinBtrfsImage(job.output, job.epoch);
}

/**
 * ext2/ext4: mkfs -d copies the tree, resize2fs -M shrinks it, then one debugfs batch pins what mkfs
 * copied from the source: the inode times (ctime cannot be set on the host side) and the owner (a tree
 * built without root belongs to its builder, and root_owner= only covers the root directory).
 * E2FSPROGS_FAKE_TIME pins the superblock times; it treats 0 as unset, so epoch 0 becomes 1 second there.
 */
async function buildExt(ctx: Context, job: ImageJob, type: 'ext2' | 'ext4'): Promise<void> {
  const env = { E2FSPROGS_FAKE_TIME: String(Math.max(job.epoch, 1)) };
  const sizeBytes = job.size ?? Math.ceil(treeBytes(job.entries) * 1.3) + job.entries.length * 8192 + (16 << 20);
  await writeFile(job.output, '');
  await truncate(job.output, sizeBytes);
  const features = type === 'ext4' ? ['-O', '^has_journal'] : [];
  const extended = `root_owner=0:0,hash_seed=${FIXED_HASH_SEED}`;
  await ctx.run.run(
    `mkfs.${type}`,
    ['-q', '-F', ...features, '-U', FIXED_UUID, '-E', extended, '-d', job.tree, job.output],
    {
      why: `build ${type} sysext images`,
      env,
    },
  );
  await ctx.run.run('resize2fs', ['-M', job.output], { why: `shrink ${type} sysext images`, env });
  const times = type === 'ext4' ? ['atime', 'mtime', 'ctime', 'crtime'] : ['atime', 'mtime', 'ctime'];
  const fields: Array<[string, number]> = [
    ...times.map((field): [string, number] => [field, job.epoch]),
    ['uid', 0],
    ['gid', 0],
  ];
  const paths = ['/', ...job.entries.map((entry) => `/${entry.path}`)];
  const commands = paths.flatMap((path) => fields.map(([field, value]) => `sif "${path}" ${field} ${value}`));
  const script = join(job.scratch, 'debugfs-inodes');
  await writeFile(script, `${commands.join('\n')}\n`);
  await ctx.run.run('debugfs', ['-w', '-f', script, job.output], { why: `pin ${type} inode times and owners`, env });
}
