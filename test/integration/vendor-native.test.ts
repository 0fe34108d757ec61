/**
 * The native vendor route on real tools: a small Flatcar disk goes through layout growth, the OEM
 * partition (both offline: no loop device, no mount), qemu-img and the compressors, and every output is
 * judged by qemu-img info/check/compare, the compressors' integrity tests, tar, and a loop mount of the
 * image converted back to raw.
 */

import assert from 'node:assert/strict';
import { lstat, mkdtemp, open, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { execa } from 'execa';
import { isBakeError } from '../../bake/core/errors.ts';
import { readGpt } from '../../bake/image/gpt.ts';
import { convertArgs } from '../../bake/vendor/convert.ts';
import type { VendorJob } from '../../bake/vendor/index.ts';
import { layoutTarget } from '../../bake/vendor/layout.ts';
import { appendFixedVhdFooter } from '../../bake/vendor/vhd.ts';
import { produceAsPlanned, type VendorFixture, vendorFixtureForFile } from '../support/vendor-fixture.ts';
import {
  qemuCheck,
  qemuCompare,
  qemuInfo,
  rawView,
  readRawImage,
  testCompressed,
  toRaw,
} from '../support/vendor-judge.ts';

const VERSION = '4790.0.0';
const MIB = 2 ** 20;

/** One mirror for the whole file, released after the last test. */
const shared = vendorFixtureForFile([
  {
    version: VERSION,
    channel: 'alpha',
    sdkVersion: VERSION,
    oems: ['qemu', 'azure', 'hyperv', 'openstack', 'exoscale', 'vmware', 'gce'],
    firmware: true,
  },
]);

interface Run {
  outputs: string[];
  names: string[];
  image: string;
  dir: string;
  out: string;
  lines: string[];
}

async function runNative(
  t: TestContext,
  fx: VendorFixture,
  vendor: string,
  compression: string[],
  more: Partial<VendorJob> = {},
): Promise<Run> {
  const dir = await mkdtemp(join(fx.scratch, `${vendor}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'out');
  await execa('mkdir', [out]);
  const image = await fx.disk(dir, VERSION);
  const ctx = fx.context();
  const outputs = await produceAsPlanned(ctx, {
    vendor,
    route: 'native',
    release: fx.releases.get(VERSION)!,
    image,
    workDir: dir,
    outputDir: out,
    compression,
    scripts: fx.scriptsTrust('native', VERSION),
    ...more,
  });
  assert.deepEqual(
    (await readdir(dir)).filter((name) => name.startsWith('vendor-')),
    [],
    'the stage is gone',
  );
  const privileged = ctx.lines.filter((line) => /^\+ (sudo|losetup|mount|umount|systemd-dissect) /.test(line));
  assert.deepEqual(privileged, [], 'no loop device, mount or sudo: the route works offline');
  return { outputs, names: outputs.map((o) => basename(o)), image, dir, out, lines: ctx.lines };
}

async function expectedDiskBytes(image: string, layout: 'base' | 'vm' | 'azure'): Promise<number> {
  const root = (await readGpt(image)).partitions.find((p) => p.number === 9)!;
  return layoutTarget(layout, VERSION, Number(root.firstLba), 1).diskBytes;
}

async function assertOemAndSysexts(raw: string, oemId: string, grubOemId: string): Promise<void> {
  const contents = await readRawImage(raw);
  assert.deepEqual(contents.oemSysexts.sort(), [`active-oem-${oemId}`, `oem-${oemId}-${VERSION}.raw`].sort());
  assert.match(contents.oem['grub.cfg']!, new RegExp(`^# Flatcar GRUB settings\\n\\nset oem_id="${grubOemId}"\\n`));
  assert.match(contents.oem['oem-release']!, new RegExp(`^ID=${oemId}\\n`, 'm'));
  assert.match(contents.oem['oem-release']!, /^NAME=Fixture /m, 'oem-release comes from the sysext SYSEXT_* fields');
  assert.equal(
    contents.extensionsLink,
    '/opt/extensions/hello/hello-1.0-x86-64.raw',
    'the baked sysext symlink is still there',
  );
  assert.equal(contents.optExtension.trim(), 'baked sysext stand-in');
}

test('qemu_uefi: compressed qcow2 (compat 0.10), launcher, README, firmware, legacy links, bz2 and none', async (t) => {
  const fx = await shared();
  const run = await runNative(t, fx, 'qemu_uefi', ['bz2', 'none']);
  assert.deepEqual(run.names, [
    'flatcar_production_qemu_uefi_image.img',
    'flatcar_production_qemu_uefi_image.img.bz2',
    'flatcar_production_qemu_uefi.sh',
    'flatcar_production_qemu_uefi.README',
    'flatcar_production_qemu_uefi_efi_code.qcow2',
    'flatcar_production_qemu_uefi_efi_code.qcow2.bz2',
    'flatcar_production_qemu_uefi_efi_vars.qcow2',
    'flatcar_production_qemu_uefi_efi_vars.qcow2.bz2',
    'flatcar_production_qemu_image.img',
    'flatcar_production_qemu_image.img.bz2',
    'flatcar_production_qemu.sh',
  ]);
  const img = join(run.out, 'flatcar_production_qemu_uefi_image.img');
  const info = await qemuInfo(img, 'qcow2');
  assert.equal(info.format, 'qcow2');
  assert.equal(info['format-specific']?.data.compat, '0.10');
  assert.equal(info['virtual-size'], await expectedDiskBytes(run.image, 'vm'));
  assert.equal(info['virtual-size'] % MIB, 0);
  await qemuCheck(img, 'qcow2');
  await qemuCompare(run.image, img, 'qcow2');
  for (const name of run.names.filter((n) => n.endsWith('.bz2'))) await testCompressed(join(run.out, name));
  assert.equal(
    await readlink(join(run.out, 'flatcar_production_qemu_image.img')),
    'flatcar_production_qemu_uefi_image.img',
  );
  assert.equal(
    await readlink(join(run.out, 'flatcar_production_qemu_image.img.bz2')),
    'flatcar_production_qemu_uefi_image.img.bz2',
  );
  const script = await readFile(join(run.out, 'flatcar_production_qemu_uefi.sh'), 'utf8');
  assert.match(script, /^VM_NAME='flatcar_production_qemu_uefi-4790-0-0'$/m);
  assert.match(script, /^VM_IMAGE='flatcar_production_qemu_uefi_image.img'$/m);
  assert.match(script, /^VM_PFLASH_RO='flatcar_production_qemu_uefi_efi_code.qcow2'$/m);
  assert.match(script, /^VM_BOARD='amd64-usr'$/m);
  assert.equal((await stat(join(run.out, 'flatcar_production_qemu_uefi.sh'))).mode & 0o777, 0o755);
  assert.equal((await qemuInfo(join(run.out, 'flatcar_production_qemu_uefi_efi_code.qcow2'), 'qcow2')).format, 'qcow2');
  const raw = join(run.dir, 'back.raw');
  await toRaw(img, 'qcow2', raw);
  await assertOemAndSysexts(raw, 'qemu', 'qemu');
});

test('azure: fixed VHD with force_size on the 30 GB layout, uncompressed', async (t) => {
  const fx = await shared();
  const run = await runNative(t, fx, 'azure', ['none']);
  assert.deepEqual(run.names, ['flatcar_production_azure_image.vhd']);
  const vhd = run.outputs[0]!;
  await assert.rejects(lstat(run.image), 'the generic image became the VHD');
  const info = await qemuInfo(vhd, 'vpc');
  assert.equal(info.format, 'vpc');
  const raw = join(run.dir, 'back.raw');
  await toRaw(vhd, 'vpc', raw);
  assert.equal(info['virtual-size'], await expectedDiskBytes(raw, 'azure'));
  assert.equal((await stat(vhd)).size, info['virtual-size'] + 512, 'a fixed VHD is the disk plus a 512-byte footer');
  const footer = Buffer.alloc(8);
  const handle = await open(vhd);
  await handle.read(footer, 0, 8, info['virtual-size']);
  await handle.close();
  assert.equal(footer.toString('latin1'), 'conectix');
  await qemuCompare(rawView(vhd, info['virtual-size']), vhd, 'vpc');
  await assertOemAndSysexts(raw, 'azure', 'azure');
});

test('the fixed-VHD footer is the one qemu-img convert -O vpc -o subformat=fixed,force_size writes, but for its timestamp, UUID and checksum', async (t) => {
  const fx = await shared();
  const dir = await mkdtemp(join(fx.scratch, 'footer-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const raw = join(dir, 'disk.raw');
  const bytes = 26 * MIB;
  await execa('truncate', ['-s', String(bytes), raw]);
  await execa('qemu-img', convertArgs('vhd_fixed', raw, join(dir, 'qemu.vhd'))!);
  await appendFixedVhdFooter(raw, bytes);
  const ours = await readFile(raw);
  const theirs = await readFile(join(dir, 'qemu.vhd'));
  assert.equal(ours.length, theirs.length);
  // Fields every qemu-img run writes afresh: timestamp (24–27), checksum (64–67), UUID (68–83).
  const masked = (file: Buffer) =>
    Buffer.concat([file.subarray(bytes, bytes + 24), file.subarray(bytes + 28, bytes + 64), file.subarray(bytes + 84)]);
  assert.deepEqual(masked(ours), masked(theirs));
  const info = await qemuInfo(raw, 'vpc');
  assert.equal(info['virtual-size'], bytes);
  const { stderr } = await execa('qemu-img', ['compare', '-f', 'vpc', '-F', 'vpc', raw, join(dir, 'qemu.vhd')]);
  assert.doesNotMatch(stderr, /checksum/, 'qemu accepts our checksum');
});

test('hyperv: dynamic VHD, zip (with none kept to judge it)', async (t) => {
  const fx = await shared();
  const run = await runNative(t, fx, 'hyperv', ['zip', 'none']);
  assert.deepEqual(run.names, ['flatcar_production_hyperv_image.vhd', 'flatcar_production_hyperv_image.vhd.zip']);
  const vhd = run.outputs[0]!;
  assert.equal((await qemuInfo(vhd, 'vpc'))['virtual-size'], await expectedDiskBytes(run.image, 'base'));
  assert.ok((await stat(vhd)).size < (await qemuInfo(vhd, 'vpc'))['virtual-size'], 'dynamic: smaller than the disk');
  await qemuCompare(run.image, vhd, 'vpc');
  await testCompressed(run.outputs[1]!);
  const { stdout } = await execa('zipinfo', ['-1', run.outputs[1]!]);
  assert.equal(stdout.trim(), 'flatcar_production_hyperv_image.vhd');
});

test('hyperv_vhdx: dynamic VHDX', async (t) => {
  const fx = await shared();
  const run = await runNative(t, fx, 'hyperv_vhdx', ['none']);
  assert.deepEqual(run.names, ['flatcar_production_hyperv_vhdx_image.vhdx']);
  const vhdx = run.outputs[0]!;
  assert.equal((await qemuInfo(vhdx, 'vhdx')).format, 'vhdx');
  assert.equal((await qemuInfo(vhdx, 'vhdx'))['virtual-size'], await expectedDiskBytes(run.image, 'base'));
  await qemuCheck(vhdx, 'vhdx');
  await qemuCompare(run.image, vhdx, 'vhdx');
});

test('vmware_ova: streamOptimized VMDK, OVF from the template, OVA with SHA1 manifest', async (t) => {
  const fx = await shared();
  const run = await runNative(t, fx, 'vmware_ova', ['none']);
  assert.deepEqual(run.names, [
    'flatcar_production_vmware_ova.ovf',
    'flatcar_production_vmware_ova.ova',
    'flatcar_production_vmware_ova_image.vmdk',
  ]);
  const vmdk = join(run.out, 'flatcar_production_vmware_ova_image.vmdk');
  const info = await qemuInfo(vmdk, 'vmdk');
  assert.equal(info['format-specific']?.data['create-type'], 'streamOptimized');
  await qemuCheck(vmdk, 'vmdk');
  await qemuCompare(run.image, vmdk, 'vmdk');
  const ovf = await readFile(join(run.out, 'flatcar_production_vmware_ova.ovf'), 'utf8');
  assert.match(ovf, new RegExp(`ovf:capacity="${info['virtual-size']}"`));
  assert.match(ovf, new RegExp(`ovf:size="${(await stat(vmdk)).size}"`));
  assert.doesNotMatch(ovf, /@@/);
  const { stdout: listing } = await execa('tar', ['-tf', join(run.out, 'flatcar_production_vmware_ova.ova')]);
  assert.deepEqual(listing.split('\n'), [
    'flatcar_production_vmware_ova.ovf',
    'flatcar_production_vmware_ova.mf',
    'flatcar_production_vmware_ova_image.vmdk',
  ]);
  const { stdout: manifest } = await execa('tar', [
    '-xOf',
    join(run.out, 'flatcar_production_vmware_ova.ova'),
    'flatcar_production_vmware_ova.mf',
  ]);
  const { stdout: sha1 } = await execa('sha1sum', [vmdk]);
  assert.match(
    manifest,
    new RegExp(`^SHA1\\(flatcar_production_vmware_ova_image.vmdk\\)= ${sha1.split(' ')[0]}$`, 'm'),
  );
});

test('gce: raw disk packed as disk.raw in a tar.gz, nothing else (base layout via --disk_layout)', async (t) => {
  const fx = await shared();
  const run = await runNative(t, fx, 'gce', ['bz2'], { diskLayout: 'base' });
  assert.deepEqual(
    run.names,
    ['flatcar_production_gce.tar.gz'],
    'the tarball replaces the file list and is not compressed again',
  );
  // Listing decompresses the whole stream: a corrupt gzip fails here.
  const { stdout } = await execa('tar', ['--use-compress-program=pigz', '-tvf', run.outputs[0]!]);
  const entries = stdout.split('\n');
  assert.equal(entries.length, 1);
  const size = Number(/\s(\d+)\s+\d{4}-\d\d-\d\d/.exec(entries[0]!)?.[1]);
  assert.match(entries[0]!, / disk\.raw$/);
  assert.equal(size % MIB, 0);
  assert.ok(size >= 1.7 * 2 ** 30, `disk.raw holds the base-layout disk (${size} bytes)`);
});

test('exoscale: qcow2 resized to 10 GiB, zst', async (t) => {
  const fx = await shared();
  const run = await runNative(t, fx, 'exoscale', ['zst', 'none']);
  assert.deepEqual(run.names, [
    'flatcar_production_exoscale_image.qcow2',
    'flatcar_production_exoscale_image.qcow2.zst',
  ]);
  assert.equal((await qemuInfo(run.outputs[0]!, 'qcow2'))['virtual-size'], 10 * 2 ** 30);
  await qemuCheck(run.outputs[0]!, 'qcow2');
  await testCompressed(run.outputs[1]!);
});

test('openstack_mini: qcow2 on the base layout, gz and bz2 without the plain file', async (t) => {
  const fx = await shared();
  const run = await runNative(t, fx, 'openstack_mini', ['gz', 'bz2']);
  assert.deepEqual(run.names, [
    'flatcar_production_openstack_mini_image.img.gz',
    'flatcar_production_openstack_mini_image.img.bz2',
  ]);
  for (const output of run.outputs) await testCompressed(output);
  await execa('pigz', ['-dk', run.outputs[0]!]);
  await qemuCompare(run.image, join(run.out, 'flatcar_production_openstack_mini_image.img'), 'qcow2');
});

test('vmware_raw: the raw disk itself, moved (not copied) into place', async (t) => {
  const fx = await shared();
  const run = await runNative(t, fx, 'vmware_raw', ['none']);
  assert.deepEqual(run.names, ['flatcar_production_vmware_raw_image.bin']);
  await assert.rejects(lstat(run.image), 'the generic image was consumed');
  assert.equal((await stat(run.outputs[0]!)).size, await expectedDiskBytes(run.outputs[0]!, 'base'));
  await assertOemAndSysexts(run.outputs[0]!, 'vmware', 'vmware');
});

test('an OEM sysext missing on the server: a network error naming it, no loop device left, nothing written', async (t) => {
  const fx = await shared();
  const dir = await mkdtemp(join(fx.scratch, 'missing-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const image = await fx.disk(dir, VERSION);
  const ctx = fx.context();
  await assert.rejects(
    produceAsPlanned(ctx, {
      vendor: 'hetzner',
      route: 'native',
      release: fx.releases.get(VERSION)!,
      image,
      workDir: dir,
      outputDir: dir,
      compression: ['none'],
    }),
    (error: unknown) => isBakeError(error) && error.kind === 'network' && /oem-hetzner\.raw/.test(error.message),
  );
  // The layout grows the (consumed) image while the download runs; it has finished and let go of it.
  const { stdout } = await execa('losetup', ['--associated', image]);
  assert.equal(stdout, '', 'no loop device on the image');
  assert.deepEqual(await readdir(dir), ['flatcar_production_image.bin']);
});
