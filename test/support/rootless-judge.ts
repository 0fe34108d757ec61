/**
 * How the rootless tests judge an image: the filesystems' and the partition table's own checks, and a
 * mounted tree described for comparison with a mounted install (as root, in the test only), which
 * `mountedWriter` makes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Context } from '../../bake/context.ts';
import { findPartition, readGpt } from '../../bake/image/gpt.ts';
import { hostTreeStore, InRootWriter, type PartitionRules } from '../../bake/image/in-root.ts';

/** Writes into a partition mounted at `hostRoot`, as root, as bake's install once did. */
export function mountedWriter(ctx: Context, hostRoot: string, rules: PartitionRules): InRootWriter {
  return new InRootWriter(hostTreeStore(ctx, hostRoot, rules.label, { privileged: true }), rules);
}

/** Every entry of a mounted tree: type, owner, mode, and the link target or content hash (not times). */
export async function describeTree(root: string): Promise<Record<string, string>> {
  const entries: Record<string, string> = {};
  const walk = async (relative: string): Promise<void> => {
    for (const name of (await readdir(join(root, relative))).sort()) {
      const path = join(relative, name);
      const info = await lstat(join(root, path));
      const what = info.isSymbolicLink()
        ? `-> ${await readlink(join(root, path))}`
        : info.isFile()
          ? createHash('sha256')
              .update(await readFile(join(root, path)))
              .digest('hex')
          : 'dir';
      entries[`/${path}`] = `${info.uid}:${info.gid} ${info.mode.toString(8)} ${what}`;
      if (info.isDirectory()) await walk(path);
    }
  };
  await walk('');
  return entries;
}

/** e2fsck on ROOT at its offset, btrfs check on a copy of OEM, sgdisk --verify on the table. */
export async function assertChecksPass(image: string): Promise<void> {
  const table = await readGpt(image);
  await execa('e2fsck', ['-fn', `${image}?offset=${findPartition(table, 'root', image).offsetBytes}`]);
  const oem = findPartition(table, 'oem', image);
  const oemCopy = `${image}.oem`;
  await execa('dd', [
    `if=${image}`,
    `of=${oemCopy}`,
    'bs=1M',
    'iflag=skip_bytes,count_bytes',
    `skip=${oem.offsetBytes}`,
    `count=${oem.sizeBytes}`,
    'status=none',
  ]);
  await execa('btrfs', ['check', '--readonly', oemCopy]);
  await rm(oemCopy);
  const { stdout } = await execa('sgdisk', ['--verify', image]);
  assert.match(stdout, /No problems found/, `sgdisk --verify ${image}: ${stdout}`);
}
