/**
 * The pure parts of the vendor stage: planning (route, downloads, outputs), compression parsing, the
 * SDK container command line (against the same golden file the podman test uses), image_to_vm's
 * arguments, oem-release, the fixed-VHD footer, layout sizes, template substitution and runtime detection.
 */

import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { createContext } from '../../bake/context.ts';
import { createArgs, detectRuntime } from '../../bake/core/container.ts';
import { resolveEndpoints } from '../../bake/core/endpoints.ts';
import { isBakeError } from '../../bake/core/errors.ts';
import { quoteForLog } from '../../bake/core/exec.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { setShellVariables, vmName } from '../../bake/vendor/extras.ts';
import { layoutTarget } from '../../bake/vendor/layout.ts';
import { oemRelease } from '../../bake/vendor/oem.ts';
import { chooseRoute, parseCompression, type VendorRelease } from '../../bake/vendor/plan.ts';
import { imageToVmArgs, sdkContainerSpec } from '../../bake/vendor/sdk.ts';
import { vendorPlans } from '../../bake/vendor/several.ts';
import { fixedVhdFooter } from '../../bake/vendor/vhd.ts';
import { DISK_FORMATS, formatsFor, vendorFormat } from '../../vendors/formats.ts';
import { OEMS } from '../../vendors/oems.ts';

const release = (
  version: string,
  channel: VendorRelease['channel'] = 'alpha',
  arch: VendorRelease['arch'] = 'x86-64',
): VendorRelease => ({
  version,
  channel,
  arch,
  board: arch === 'x86-64' ? 'amd64-usr' : 'arm64-usr',
  baseUrl: `https://${channel}.release.flatcar-linux.net/amd64-usr/${version}`,
});
/** The real defaults, as a bake without endpoint flags or variables has them. */
const ENDPOINTS = resolveEndpoints({}, {});
/** The plan a bake makes for one vendor: vendorPlans, as --dry-run prints it. */
const planOf = (job: Omit<Parameters<typeof vendorPlans>[0], 'vendors'> & { vendor: string }) =>
  vendorPlans({ ...job, vendors: [job.vendor] }, ENDPOINTS)[0]!;
const GOLDEN = resolve(import.meta.dirname, '../fixtures/golden');

test('every format of every release plans without error, outputs under the output dir', () => {
  for (const [version, channel] of [
    ['4081.3.10', 'lts'],
    ['4593.2.5', 'stable'],
    ['4628.1.0', 'beta'],
    ['4790.0.0', 'alpha'],
  ] as const) {
    for (const arch of ['x86-64', 'arm64'] as const) {
      for (const format of formatsFor(version, arch)) {
        const plan = planOf({
          vendor: format.name,
          route: 'auto',
          release: release(version, channel, arch),
          outputDir: '/out',
        });
        assert.ok(
          plan.outputs.length > 0 && plan.outputs.every((o) => o.startsWith('/out/flatcar_production_')),
          `${format.name} ${version}`,
        );
        assert.ok(plan.steps.length >= 3);
      }
    }
  }
});

test('auto picks native only where the image is the same; SDK downloads follow the era', () => {
  const era = (version: string, channel: VendorRelease['channel'], vendor: string) =>
    planOf({ vendor, route: 'auto', release: release(version, channel), outputDir: '/o' });
  const azureC = era('4790.0.0', 'alpha', 'azure');
  assert.equal(azureC.route, 'native');
  assert.deepEqual(azureC.downloads, ['https://alpha.release.flatcar-linux.net/amd64-usr/4790.0.0/oem-azure.raw']);
  const azureA = era('4593.2.5', 'stable', 'azure');
  assert.equal(azureA.route, 'sdk');
  assert.deepEqual(
    azureA.downloads.map((d) => d.split('/').pop()),
    ['stable-4593.2.5.tar.gz', 'version.txt', 'flatcar_production_image_sysext.squashfs'],
  );
  const azureB = era('4628.1.0', 'beta', 'azure');
  assert.deepEqual(
    azureB.downloads.map((d) => d.split('/').pop()),
    ['beta-4628.1.0.tar.gz', 'version.txt', 'flatcar_production_image_sysext.squashfs', 'oem-azure.raw'],
  );
  assert.equal(era('4790.0.0', 'alpha', 'qemu_uefi').route, 'sdk', 'no Secure Boot variant natively');
  assert.equal(era('4790.0.0', 'alpha', 'pxe').route, 'sdk');
  const native = planOf({ vendor: 'qemu_uefi', route: 'native', release: release('4790.0.0'), outputDir: '/o' });
  assert.ok(native.downloads.some((d) => d.endsWith('/flatcar_production_qemu_uefi_efi_code.qcow2')));
  assert.ok(native.downloads.some((d) => d.includes('build_library/qemu_template.sh')));
});

test('native on a format it cannot make is an input error with a hint; unknown format a usage error', () => {
  assert.throws(
    () => chooseRoute(vendorFormat('vagrant'), '4790.0.0', 'native'),
    (e: unknown) => isBakeError(e) && e.kind === 'input' && e.hint === 'use --vendor-route sdk',
  );
  assert.throws(() => chooseRoute(vendorFormat('cloudsigma'), '4593.2.5', 'native'), /SDK-built package/);
  assert.throws(
    () => planOf({ vendor: 'am', route: 'auto', release: release('4790.0.0'), outputDir: '/o' }),
    (e: unknown) => isBakeError(e) && e.kind === 'usage',
  );
});

test('compression: default from the table, comma lists, duplicates folded, unknown rejected', () => {
  const openstack = vendorFormat('openstack');
  assert.deepEqual(parseCompression(undefined, openstack), ['gz', 'bz2', 'none']);
  assert.deepEqual(parseCompression(['bz2,zst', 'zst'], openstack), ['bz2', 'zst']);
  assert.throws(
    () => parseCompression(['xz'], openstack),
    (e: unknown) => isBakeError(e) && e.kind === 'usage' && /unknown compression 'xz'/.test(e.message),
  );
});

test('the SDK container command line equals the golden file the podman test records', async () => {
  const spec = sdkContainerSpec({
    scriptsDir: '/tmp/w/sdk-azure',
    image: 'localhost/bake-flatcar-sdk-standin:4790.0.0',
    name: 'bake-sdk-azure-0123abcd',
    uid: 0,
    gid: 0,
    tmp: 'tmpfs-exec',
  });
  const golden = (await readFile(join(GOLDEN, 'sdk-podman-azure-4790.0.0.txt'), 'utf8')).split('\n')[0];
  const line = quoteForLog(['podman', ...createArgs(spec)])
    .replaceAll('/tmp/w/sdk-azure', '<SCRIPTS>')
    .replaceAll('0123abcd', '<ID>');
  assert.equal(line, golden);
  assert.equal(
    sdkContainerSpec({ scriptsDir: '/s', image: 'i', name: 'a.b'.padEnd(70, 'x'), uid: 1, gid: 2, tmp: 'disk' })
      .hostname,
    'a_b'.padEnd(63, 'x'),
  );
});

test('image_to_vm arguments: the bakery call plus compression, only-compressed without none, disk layout', () => {
  const common = { format: vendorFormat('azure'), release: release('4790.0.0') };
  assert.deepEqual(imageToVmArgs({ ...common, compression: ['bz2', 'none'] }), [
    './image_to_vm.sh',
    '--from=./',
    '--to=./',
    '--board=amd64-usr',
    '--getbinpkg',
    '--format=azure',
    '--image_compression_formats=bz2,none',
  ]);
  assert.deepEqual(imageToVmArgs({ ...common, compression: ['zip'], layout: 'base' }).slice(-3), [
    '--image_compression_formats=zip',
    '--only_store_compressed',
    '--disk_layout=base',
  ]);
});

test('oem-release from the sysext (Era C sed) or the common-oem-files fallback', () => {
  const release = [
    'ID=flatcar',
    'VERSION_ID=4790.0.0',
    'SYSEXT_ID=oem-azure',
    'SYSEXT_NAME=Microsoft Azure',
    'SYSEXT_VERSION_ID=2.10',
  ];
  assert.equal(oemRelease(OEMS.azure, release), 'ID=azure\nNAME=Microsoft Azure\nVERSION_ID=2.10\n');
  assert.equal(
    oemRelease(OEMS.ami, ['ID=flatcar']),
    'ID=ami\nNAME="Amazon EC2"\nBUG_REPORT_URL="https://issues.flatcar.org"\n',
  );
});

test('fixed-VHD footer: seconds since 2000, sizes, "use the size" geometry, fixed type, one\'s-complement checksum', () => {
  const uuid = Buffer.alloc(16, 0xab);
  const footer = fixedVhdFooter(30 * 2 ** 30, { uuid, created: new Date('2000-01-01T00:01:40Z') });
  assert.equal(footer.length, 512);
  assert.equal(footer.toString('latin1', 0, 8), 'conectix');
  assert.equal(footer.readUInt32BE(24), 100);
  assert.equal(footer.readBigUInt64BE(40), 30n * 2n ** 30n);
  assert.equal(footer.readBigUInt64BE(48), 30n * 2n ** 30n);
  assert.deepEqual([footer.readUInt16BE(56), footer[58], footer[59]], [65535, 16, 255]);
  assert.equal(footer.readUInt32BE(60), 2);
  assert.deepEqual(footer.subarray(68, 84), uuid);
  const withoutChecksum = Buffer.from(footer);
  withoutChecksum.fill(0, 64, 68);
  assert.equal(footer.readUInt32BE(64), ~withoutChecksum.reduce((sum, byte) => sum + byte, 0) >>> 0);
  assert.notDeepEqual(
    fixedVhdFooter(2 ** 20).subarray(68, 84),
    fixedVhdFooter(2 ** 20).subarray(68, 84),
    'a fresh UUID each time',
  );
});

test("every native disk writer has what it needs; azure's plan appends the footer instead of converting", () => {
  for (const [disk, spec] of Object.entries(DISK_FORMATS)) {
    if (spec.native === 'qemu-img') assert.ok(spec.qemuImg, disk);
    if (spec.native === 'move') assert.equal(spec.qemuImg, undefined, disk);
  }
  assert.deepEqual(
    DISK_FORMATS.vhd_fixed.qemuImg?.options,
    ['subformat=fixed', 'force_size'],
    'the conversion the footer stands for',
  );
  const azure = planOf({ vendor: 'azure', route: 'native', release: release('4790.0.0'), outputDir: '/o' });
  assert.ok(
    azure.steps.includes(
      'append the fixed-VHD footer that qemu-img convert -O vpc -o subformat=fixed,force_size writes',
    ),
    azure.steps.join('\n'),
  );
});

test('layout target never shrinks ROOT and lands on disk_alignment', () => {
  const grown = layoutTarget('vm', '4790.0.0', 12722176, 3653632);
  assert.deepEqual(grown, { rootBlocks: 12943360, diskBytes: 25804800 * 512 });
  const kept = layoutTarget('base', '4790.0.0', 12722176, 5000000);
  assert.equal(kept.rootBlocks, 5000000);
  assert.equal((kept.diskBytes / 512) % 258048, 0);
});

test('launcher variables are set as image_to_vm sed does; VM name is hostname-safe', () => {
  const script = setShellVariables('#!/bin/sh\nVM_NAME=\nVM_IMAGE=\nVM_IMAGE_X=keep\n', {
    VM_NAME: 'n',
    VM_IMAGE: 'i.img',
  });
  assert.equal(script, "#!/bin/sh\nVM_NAME='n'\nVM_IMAGE='i.img'\nVM_IMAGE_X=keep\n");
  assert.equal(
    vmName(vendorFormat('qemu_uefi'), '4799.0.0+nightly-20260821-2100'),
    'flatcar_production_qemu_uefi-4799-0-0-nightly-20260821-2100',
  );
});

test('runtime detection: podman first, docker next, one-line error naming both', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bake-runtime-'));
  try {
    const ctx = createContext({ log: memoryLogger() });
    await writeFile(join(dir, 'docker'), '#!/bin/sh\n');
    await chmod(join(dir, 'docker'), 0o755);
    assert.equal((await detectRuntime(ctx, 'auto', dir)).name, 'docker');
    await writeFile(join(dir, 'podman'), '#!/bin/sh\n');
    await chmod(join(dir, 'podman'), 0o755);
    assert.equal((await detectRuntime(ctx, 'auto', dir)).name, 'podman');
    assert.equal((await detectRuntime(ctx, 'docker', dir)).name, 'docker');
    await assert.rejects(
      detectRuntime(ctx, 'podman', '/nonexistent'),
      (e: unknown) =>
        isBakeError(e) &&
        e.kind === 'tool' &&
        /podman is not on PATH/.test(e.message) &&
        /--vendor-route native/.test(e.hint ?? ''),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("bake vendors --release 4593.2.5 --json lists that release's formats with outputs and the auto route", async () => {
  const { execa } = await import('execa');
  const cli = resolve(import.meta.dirname, '../../bake/cli.ts');
  const { stdout } = await execa(process.execPath, [
    '--import',
    'tsx',
    cli,
    'vendors',
    '--release',
    '4593.2.5',
    '--json',
  ]);
  const result = JSON.parse(stdout) as {
    ok: boolean;
    release: { era: string };
    vendors: Array<{ format: string; outputs: string[]; autoRoute: string }>;
  };
  assert.equal(result.release.era, 'A');
  assert.ok(!result.vendors.some((v) => v.format === 'oraclecloud'));
  const azure = result.vendors.find((v) => v.format === 'azure')!;
  assert.deepEqual(azure.outputs, ['flatcar_production_azure_image.vhd.bz2']);
  assert.equal(azure.autoRoute, 'sdk');
  const bad = await execa(process.execPath, ['--import', 'tsx', cli, 'vendors', '--release', 'soon'], {
    reject: false,
  });
  assert.equal(bad.exitCode, 2);
  assert.match(bad.stderr, /^bake: 'soon' is neither a channel nor a version/);
});
