/**
 * The install stage on ROOT and OEM as an ordinary user with no sudo: ROOT's ext4 is edited offline and OEM's btrfs
 * rebuilt offline, so no loop device, mount or root is needed. The same inputs installed the mounted way (as root, in the test only)
 * must give the same tree: files, ownership, modes, link targets, sysupdate confs. Growing ROOT works the
 * same way. The test creates a throw-away user without sudo and removes it.
 */

import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type TestContext, test } from 'node:test';
import { createContext } from '../../bake/context.ts';
import { CleanupStack } from '../../bake/core/cleanup.ts';
import { isRootUser } from '../../bake/core/exec.ts';
import { attachPartition, mountDevice } from '../../bake/image/disk.ts';
import { findPartition, readGpt } from '../../bake/image/gpt.ts';
import type { InRootWriter } from '../../bake/image/in-root.ts';
import { installSysext } from '../../bake/image/install.ts';
import { PARTITION_RULES, type PartitionName, parseInstallTarget, placeSysext } from '../../bake/image/placement.ts';
import { mountImage } from '../support/bake-cli.ts';
import { makeFlatcarDisk } from '../support/fixtures/disk-image.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import type { RootlessInstallRequest } from '../support/rootless-install.ts';
import { assertChecksPass, describeTree, mountedWriter } from '../support/rootless-judge.ts';
import { type ThrowAwayUser, TSX_LOADER, throwAwayUser } from '../support/unprivileged.ts';

const USER = 'bake-rootless-img';
const DRIVER = resolve(import.meta.dirname, '../support/rootless-install.ts');
const skip = !isRootUser() && 'needs root to create the test user and to mount the result';

/** The install stage run as the test user; its verbose log shows every command. */
function installAsUser(user: ThrowAwayUser, request: RootlessInstallRequest) {
  return user.node(['--import', TSX_LOADER, DRIVER, JSON.stringify(request)]);
}

/** The same install the pre-offline way: ROOT attached and mounted, written through the mounted writer. */
async function installMounted(t: TestContext, image: string, request: RootlessInstallRequest): Promise<void> {
  const ctx = createContext();
  await using stack = new CleanupStack();
  const table = await readGpt(image);
  const mounted = async (partition: PartitionName, fstype: 'ext4' | 'btrfs') => {
    const device = await attachPartition(ctx, stack, image, findPartition(table, partition, image));
    const mount = await mountDevice(ctx, stack, device.device, fstype, partition);
    return mountedWriter(ctx, mount.path, PARTITION_RULES[partition]);
  };
  await using root = await mounted('root', 'ext4');
  await using oem = await mounted('oem', 'btrfs');
  const writers: Record<PartitionName, InRootWriter> = { root, oem };
  for (const item of request.items) {
    const placement = placeSysext(
      item.name,
      item.file,
      parseInstallTarget(item.installTo ?? 'root:/opt/extensions'),
      undefined,
      item.conf !== undefined,
    );
    await installSysext((partition) => writers[partition], {
      placement,
      image: item.image,
      ...(item.conf ? { conf: item.conf } : {}),
    });
  }
  t.diagnostic('mounted install done');
}

function assertNoPrivilegedCommand(stderr: string): void {
  assert.doesNotMatch(stderr, /^\+ (sudo|losetup|mount|umount) /m, 'no loop device, mount or sudo');
  for (const write of stderr.match(/^\+ (install|mv|ln|mkdir) .*$/gm) ?? [])
    assert.match(write, /\/\.bake-oem-[^/]+\/tree\//, 'host-side writes only into the private copy of OEM');
  assert.match(stderr, /^\+ debugfs -w -f /m, 'ROOT written with debugfs');
}

test('install into ROOT and OEM as a user without sudo gives the same tree as a mounted install', {
  skip,
}, async (t) => {
  const user = await throwAwayUser(t, USER);
  const { dir } = user;
  const image = join(dir, 'disk.bin');
  await makeFlatcarDisk(image);
  await makeSysextImage(join(dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
  await makeSysextImage(join(dir, 'other.raw'), { name: 'other', arch: 'x86-64' });
  await makeSysextImage(join(dir, 'onoem.raw'), { name: 'onoem', arch: 'x86-64' });
  await writeFile(join(dir, 'hello.conf'), '[Transfer]\nVerify=false\n[Target]\nPath=/opt/extensions/hello\n', {
    mode: 0o600,
  });
  const request: RootlessInstallRequest = {
    image,
    items: [
      { name: 'hello', file: 'hello-1.0-x86-64.raw', image: join(dir, 'hello.raw'), conf: join(dir, 'hello.conf') },
      { name: 'other', file: 'other "quoted" name.raw', image: join(dir, 'other.raw'), installTo: 'root:/var/lib/ext' },
      { name: 'onoem', file: 'onoem.raw', image: join(dir, 'onoem.raw'), installTo: 'oem:/extensions' },
    ],
  };
  const mounted = join(dir, 'mounted.bin');
  await copyFile(image, mounted);
  await user.give(dir);

  const run = await installAsUser(user, request);
  assert.equal(run.exitCode, 0, String(run.stderr));
  assertNoPrivilegedCommand(String(run.stderr));
  assert.deepEqual(JSON.parse(String(run.stdout)), { grownBy: 0 });
  await assertChecksPass(image);

  await installMounted(t, mounted, request);
  const [offlineMounts, referenceMounts] = [await mountImage(t, image), await mountImage(t, mounted)];
  const offline = await describeTree(offlineMounts.root);
  assert.deepEqual(offline, await describeTree(referenceMounts.root), 'ROOT');
  const offlineOem = await describeTree(offlineMounts.oem);
  assert.deepEqual(offlineOem, await describeTree(referenceMounts.oem), 'OEM');
  assert.match(offlineOem['/extensions/onoem/onoem.raw']!, /^0:0 100644 [0-9a-f]{64}$/);
  assert.equal(offline['/etc/extensions/onoem.raw'], '0:0 120777 -> /oem/extensions/onoem/onoem.raw');
  assert.match(offline['/opt/extensions/hello/hello-1.0-x86-64.raw']!, /^0:0 100644 [0-9a-f]{64}$/);
  assert.equal(offline['/etc/extensions/hello.raw'], '0:0 120777 -> /opt/extensions/hello/hello-1.0-x86-64.raw');
  assert.equal(offline['/etc/extensions/other.raw'], '0:0 120777 -> /var/lib/ext/other/other "quoted" name.raw');
  assert.match(offline['/etc/sysupdate.hello.d/hello.conf']!, /^0:0 100644 /);
});

test('growing ROOT as a user without sudo: GPT and ext4 grown offline', { skip }, async (t) => {
  const user = await throwAwayUser(t, USER);
  const { dir } = user;
  const image = join(dir, 'disk.bin');
  await makeFlatcarDisk(image, { sizes: { ROOT: 16 } });
  const big = join(dir, 'big.raw');
  await writeFile(big, Buffer.alloc(24 * 1024 * 1024, 7));
  await user.give(dir);

  const run = await installAsUser(user, { image, items: [{ name: 'big', file: 'big.raw', image: big }] });
  assert.equal(run.exitCode, 0, String(run.stderr));
  assertNoPrivilegedCommand(String(run.stderr));
  assert.ok(JSON.parse(String(run.stdout)).grownBy > 0, 'ROOT grew');
  assert.match(String(run.stderr), /^\+ resize2fs /m);
  await assertChecksPass(image);
  const { root } = await mountImage(t, image);
  assert.deepEqual(await readFile(join(root, 'opt/extensions/big/big.raw')), await readFile(big));
});
