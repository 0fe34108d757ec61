/**
 * The native vendor route as an ordinary user with no sudo: the layout grows ROOT offline, OEM is read
 * out and rebuilt with its files, qemu-img converts, and no loop device, mount or root is needed. The
 * outputs pass the filesystems' and the partition table's own checks, and match what the mounted route
 * (loop devices, resize2fs on the device, OEM written through a mount; as root, in the test only) makes
 * of the same generic image: the same OEM tree (files, owners, modes), the same ROOT size, and an OEM
 * that keeps the original's label, UUID, sector and node size, checksum and features.
 */

import assert from 'node:assert/strict';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type TestContext, test } from 'node:test';
import { execa } from 'execa';
import type { BootReport } from '../../bake/boot/check.ts';
import { createContext } from '../../bake/context.ts';
import { CleanupStack } from '../../bake/core/cleanup.ts';
import { isRootUser } from '../../bake/core/exec.ts';
import { attachPartition, mountDevice } from '../../bake/image/disk.ts';
import { FLATCAR_PARTITIONS, findPartition, readGpt } from '../../bake/image/gpt.ts';
import { resizeLastPartition } from '../../bake/image/gpt-resize.ts';
import { PARTITION_RULES } from '../../bake/image/placement.ts';
import { walkTree } from '../../bake/sysext/tree.ts';
import { layoutTarget } from '../../bake/vendor/layout.ts';
import { type VendorId, vendorFormat } from '../../vendors/formats.ts';
import { mountImage } from '../support/bake-cli.ts';
import { bootableDiskOptions } from '../support/fixtures/bootable.ts';
import { makeFlatcarDisk } from '../support/fixtures/disk-image.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withTempDir } from '../support/fixtures.ts';
import { assertChecksPass, describeTree, mountedWriter } from '../support/rootless-judge.ts';
import type { RootlessVendorRequest } from '../support/rootless-vendor.ts';
import { type ThrowAwayUser, TSX_LOADER, throwAwayUser } from '../support/unprivileged.ts';
import { type VendorFixture, vendorFixtureForFile } from '../support/vendor-fixture.ts';
import { qemuCheck, toRaw } from '../support/vendor-judge.ts';

const VERSION = '4790.0.0';
/** A release without qemu firmware in its directory: the route converts the host's, which can boot. */
const HOST_FIRMWARE_VERSION = '4791.0.0';
const USER = 'bake-rootless-vnd';
const VM_SECONDS = 300;
const DRIVER = resolve(import.meta.dirname, '../support/rootless-vendor.ts');
const skip = !isRootUser() && 'needs root to create the test user and to run the mounted route for comparison';

/** One mirror for the whole file, released after the last test. */
const shared = vendorFixtureForFile([
  { version: VERSION, channel: 'alpha', sdkVersion: VERSION, oems: ['qemu', 'azure'], firmware: true },
  { version: HOST_FIRMWARE_VERSION, channel: 'alpha', sdkVersion: HOST_FIRMWARE_VERSION, oems: ['qemu'] },
]);

interface UserVendorRun {
  output: string;
  /** An untouched copy of the generic image the route started from. */
  original: string;
  stderr: string;
}

interface UserVendorJob {
  vendor: VendorId;
  version?: string;
  /** Makes the generic image in `dir` (default: the fixture's small disk). */
  disk?: (dir: string) => Promise<string>;
}

/** The vendor step as the user, on a fresh generic image in the user's workspace. */
async function vendorAsUser(fx: VendorFixture, user: ThrowAwayUser, job: UserVendorJob): Promise<UserVendorRun> {
  const { vendor, version = VERSION } = job;
  const dir = join(user.dir, vendor);
  const out = join(dir, 'out');
  await mkdir(out, { recursive: true });
  const image = await (job.disk ?? ((at) => fx.disk(at, version)))(dir);
  const original = join(user.dir, `${vendor}-original.bin`);
  await execa('cp', ['--sparse=always', image, original]);
  const endpoints = fx.context().endpoints;
  const signingKey = join(user.dir, 'signing-key.asc');
  await execa('cp', [endpoints.signingKey, signingKey]);
  await user.give(user.dir);
  const request: RootlessVendorRequest = {
    job: {
      vendor,
      route: 'native',
      release: fx.releases.get(version)!,
      image,
      workDir: dir,
      outputDir: out,
      compression: ['none'],
      scripts: fx.scriptsTrust('native', version),
    },
    cacheDir: join(user.dir, 'cache'),
    endpoints: { ...endpoints, signingKey },
  };
  const run = await user.node(['--import', TSX_LOADER, DRIVER, JSON.stringify(request)]);
  assert.equal(run.exitCode, 0, run.stderr);
  const outputs = JSON.parse(run.stdout) as string[];
  return { output: outputs[0]!, original, stderr: run.stderr };
}

function assertNoPrivilegedCommand(stderr: string): void {
  assert.doesNotMatch(stderr, /^\+ (sudo|losetup|mount|umount|systemd-dissect) /m, 'no loop device, mount or sudo');
  assert.match(stderr, /^\+ unshare -r mkfs\.btrfs .*--rootdir /m, 'OEM rebuilt offline');
  assert.match(stderr, /^\+ resize2fs /m, 'ROOT grown offline');
}

/** What the mounted route did to the same generic image: ROOT grown on a loop device, OEM written through a mount. */
async function mountedRoute(image: string, vendor: VendorId, oemFiles: string): Promise<void> {
  const ctx = createContext();
  await using stack = new CleanupStack();
  const root = findPartition(await readGpt(image), 'root', image);
  const blocks = Number(root.lastLba - root.firstLba + 1n);
  const target = layoutTarget(vendorFormat(vendor, VERSION)!.layout, VERSION, Number(root.firstLba), blocks);
  await resizeLastPartition(image, FLATCAR_PARTITIONS.root.number, target.rootBlocks, target.diskBytes);
  const grown = await attachPartition(ctx, stack, image, findPartition(await readGpt(image), 'root', image));
  await execa('e2fsck', ['-f', '-p', grown.device]);
  await execa('resize2fs', [grown.device]);
  await grown.detach();
  const oem = await attachPartition(ctx, stack, image, findPartition(await readGpt(image), 'oem', image));
  const mounted = await mountDevice(ctx, stack, oem.device, 'btrfs', 'OEM');
  await using writer = mountedWriter(ctx, mounted.path, PARTITION_RULES.oem);
  for (const entry of await walkTree(oemFiles)) {
    if (entry.kind !== 'file') continue;
    await writer.installFile(join(oemFiles, entry.path), `/${entry.path}`, { preserveTimes: true });
  }
  await mounted.unmount();
  await oem.detach();
}

/** The superblock fields a rebuilt OEM must keep. */
async function oemSuperblock(image: string): Promise<Record<string, string>> {
  const oem = findPartition(await readGpt(image), 'oem', image);
  const copy = `${image}.oem-super`;
  await execa('qemu-img', [
    'convert',
    '--image-opts',
    `driver=raw,offset=${oem.offsetBytes},size=${oem.sizeBytes},file.driver=file,file.filename=${image}`,
    '-O',
    'raw',
    copy,
  ]);
  const { stdout } = await execa('btrfs', ['inspect-internal', 'dump-super', copy]);
  await execa('rm', [copy]);
  const fields = ['label', 'fsid', 'sectorsize', 'nodesize', 'csum_type', 'incompat_flags', 'compat_ro_flags'];
  return Object.fromEntries(fields.map((name) => [name, new RegExp(`^${name}\\t+(.*)$`, 'm').exec(stdout)?.[1] ?? '']));
}

async function rootBlockCount(image: string): Promise<string> {
  const root = findPartition(await readGpt(image), 'root', image);
  const { stdout } = await execa('dumpe2fs', ['-h', `${image}?offset=${root.offsetBytes}`]);
  return /^Block count:\s+(\d+)$/m.exec(stdout)?.[1] ?? '';
}

/** The user's output (as raw) against the mounted route on the untouched generic image. */
async function compareWithMountedRoute(t: TestContext, raw: string, run: UserVendorRun, vendor: VendorId) {
  await assertChecksPass(raw);
  const offline = await mountImage(t, raw);
  await mountedRoute(run.original, vendor, offline.oem);
  await assertChecksPass(run.original);
  const mounted = await mountImage(t, run.original);
  assert.deepEqual(await describeTree(offline.oem), await describeTree(mounted.oem), 'OEM: files, owners, modes');
  assert.equal((await stat(raw)).size, (await stat(run.original)).size, 'disk size');
  assert.equal(await rootBlockCount(raw), await rootBlockCount(run.original), 'ROOT filesystem size');
  assert.deepEqual(await oemSuperblock(raw), await oemSuperblock(run.original), 'OEM superblock kept');
  const tree = await describeTree(offline.oem);
  assert.match(tree['/grub.cfg']!, /^0:0 100644 /);
  assert.match(tree[`/sysext/oem-${vendor === 'qemu_uefi' ? 'qemu' : vendor}-${VERSION}.raw`]!, /^0:0 100644 /);
}

test('qemu_uefi on the native route as a user without sudo: qcow2 as the mounted route makes it', {
  skip,
}, async (t) => {
  const fx = await shared();
  const user = await throwAwayUser(t, USER);
  const run = await vendorAsUser(fx, user, { vendor: 'qemu_uefi' });
  assertNoPrivilegedCommand(run.stderr);
  assert.match(run.output, /flatcar_production_qemu_uefi_image\.img$/);
  await qemuCheck(run.output, 'qcow2');
  const raw = join(user.dir, 'qemu_uefi-back.raw');
  await toRaw(run.output, 'qcow2', raw);
  await compareWithMountedRoute(t, raw, run, 'qemu_uefi');
});

test('azure on the native route as a user without sudo: a fixed VHD on the 30 GB layout as the mounted route makes it', {
  skip,
}, async (t) => {
  const fx = await shared();
  const user = await throwAwayUser(t, USER);
  const run = await vendorAsUser(fx, user, { vendor: 'azure' });
  assertNoPrivilegedCommand(run.stderr);
  assert.match(run.output, /flatcar_production_azure_image\.vhd$/);
  const raw = join(user.dir, 'azure-back.raw');
  await toRaw(run.output, 'vpc', raw);
  await compareWithMountedRoute(t, raw, run, 'azure');
});

test('the smoke-test path as a user without sudo: the qemu_uefi image boots under TCG with its extension merged', {
  skip,
  timeout: 15 * 60_000,
}, async (t) => {
  const fx = await shared();
  const user = await throwAwayUser(t, USER);
  const hello = await makeSysextImage(join(user.dir, 'hello.raw'), {
    name: 'hello',
    arch: 'x86-64',
    id: 'flatcar',
    files: { 'usr/share/hello/mark': 'merged\n' },
  });
  const staging = await withTempDir(t, 'bake-rootless-boot');
  const run = await vendorAsUser(fx, user, {
    vendor: 'qemu_uefi',
    version: HOST_FIRMWARE_VERSION,
    disk: async (dir) => {
      const image = join(dir, 'flatcar_production_image.bin');
      const rootFiles = {
        'opt/extensions/hello/hello.raw': { copyFrom: hello.path },
        'etc/extensions/hello.raw': { symlink: '/opt/extensions/hello/hello.raw' },
      };
      await makeFlatcarDisk(image, await bootableDiskOptions(staging, { version: HOST_FIRMWARE_VERSION, rootFiles }));
      return image;
    },
  });
  assertNoPrivilegedCommand(run.stderr);
  const boot = await user.bake(
    [
      'boot',
      '--check',
      '--json',
      '--timeout',
      String(VM_SECONDS),
      '--memory',
      '1024',
      '--extension',
      'hello',
      run.output,
    ],
    { timeoutMs: (VM_SECONDS + 60) * 1000 },
  );
  const { report } = JSON.parse(boot.stdout) as { report: BootReport };
  assert.equal(boot.exitCode, 0, `${boot.stderr}\n${JSON.stringify(report, null, 2)}`);
  assert.equal(report.accel, 'tcg');
  assert.equal(report.extensions.find((extension) => extension.name === 'hello')?.merged, true);
  assert.doesNotMatch(boot.stderr, /^\+ (sudo|losetup|mount|umount) /m, 'no loop device, mount or sudo');
  // tsx, which runs the vendor driver, keeps its compile cache there.
  const left = (await readdir(join(user.dir, 'tmp'))).filter((name) => !name.startsWith('tsx-'));
  assert.deepEqual(left, [], 'the VM left nothing in TMPDIR');
});
