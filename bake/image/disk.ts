/**
 * Loop devices and mounts, for what is not yet done offline (the install and the native vendor route
 * never mount: image/ext4-offline.ts, image/btrfs-offline.ts). Each partition gets its own
 * loop device with offset and size limit, so nothing depends on the kernel's partition-table parser (this
 * CI host has none) or on partition nodes appearing in /dev. Every device and mount is registered on the
 * caller's CleanupStack and released in reverse order on success, error and Ctrl-C.
 */
import { access, mkdtemp, readFile, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.ts';
import type { CleanupStack } from '../core/cleanup.ts';
import type { GptPartition } from './gpt.ts';

const LOOP_RELEASE_TIMEOUT_MS = 5000;

export interface Attached {
  device: string;
  detach: () => Promise<void>;
}

export interface Mounted {
  path: string;
  unmount: () => Promise<void>;
}

export async function attachPartition(
  ctx: Context,
  stack: CleanupStack,
  image: string,
  partition: GptPartition,
  options: { readOnly?: boolean } = {},
): Promise<Attached> {
  const { stdout } = await ctx.run.run(
    'losetup',
    [
      '--find',
      '--show',
      ...(options.readOnly ? ['--read-only'] : []),
      '--offset',
      String(partition.offsetBytes),
      '--sizelimit',
      String(partition.sizeBytes),
      image,
    ],
    { privileged: true, why: `attach partition ${partition.number} (${partition.label})` },
  );
  const device = stdout.trim();
  const detach = stack.defer(`detach ${device}`, async () => {
    await ctx.run.run('losetup', ['--detach', device], { privileged: true, uncancellable: true });
    await waitForLoopRelease(ctx, device);
  });
  return { device, detach };
}

export async function mountDevice(
  ctx: Context,
  stack: CleanupStack,
  device: string,
  fstype: string,
  label: string,
): Promise<Mounted> {
  // mkdtemp + rmdir (never rm -r): if an unmount ever failed, removing the mount point must not recurse into the image.
  const path = await mkdtemp(join(tmpdir(), `bake-${label.toLowerCase()}-`));
  const removeDir = stack.defer(`remove ${path}`, () => rmdir(path));
  await ctx.run.run('mount', ['-t', fstype, device, path], { privileged: true, why: `mount ${label}` });
  const unmountOnly = stack.defer(`unmount ${path}`, async () => {
    await ctx.run.run('umount', [path], { privileged: true, uncancellable: true });
  });
  return {
    path,
    unmount: async () => {
      await unmountOnly();
      await removeDir();
    },
  };
}

/** Mounts an image file read-only (a loop device set up by mount) to look inside; released by `stack`. */
export async function mountImageReadOnly(
  ctx: Context,
  stack: CleanupStack,
  image: string,
  why: string,
): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), 'bake-look-'));
  stack.defer(`remove ${path}`, () => rmdir(path));
  await ctx.run.run('mount', ['-o', 'ro,loop', image, path], { privileged: true, readOnly: true, why });
  const device = await mountSource(path);
  stack.defer(`unmount ${path}`, async () => {
    await ctx.run.run('umount', [path], { privileged: true, readOnly: true, uncancellable: true });
    if (device?.startsWith('/dev/loop')) await waitForLoopRelease(ctx, device);
  });
  return path;
}

/** The device mounted at `path`, from the kernel's mount table. */
async function mountSource(path: string): Promise<string | undefined> {
  const escaped = path.replace(/[ \t\n\\]/g, (char) => `\\${char.charCodeAt(0).toString(8).padStart(3, '0')}`);
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const [before, after] = line.split(' - ');
    if (before?.split(' ')[4] === escaped) return after?.split(' ')[1];
  }
  return undefined;
}

/**
 * Detaching only asks: the kernel lets go of a loop device once nothing holds it open (losetup itself,
 * a concurrent probe), and does so in a worker, so the device can outlive the command by a moment.
 * Waiting until sysfs drops its backing file lets bake promise that no loop device is left at exit.
 */
async function waitForLoopRelease(ctx: Context, device: string): Promise<void> {
  const backingFile = `/sys/block/${basename(device)}/loop/backing_file`;
  for (const deadline = Date.now() + LOOP_RELEASE_TIMEOUT_MS; Date.now() < deadline; await sleep(20)) {
    if (
      !(await access(backingFile).then(
        () => true,
        () => false,
      ))
    )
      return;
  }
  ctx.log.warn(
    `${device} is still attached ${LOOP_RELEASE_TIMEOUT_MS / 1000} s after detaching it; see losetup --list`,
  );
}
