/**
 * The vendor table, checked row by row against docs/flatcar-facts.md §1–§2: which formats exist in which release
 * and arch, their OEM ids and grub settings, output names, layouts, and the era predicates.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VENDOR_ALIASES } from '../../vendors/aliases.ts';
import { eraName, releaseQuirks } from '../../vendors/eras.ts';
import {
  formatsFor,
  isKnownVendor,
  oemPayload,
  VENDOR_FORMATS,
  VENDOR_TABLE,
  type VendorFormat,
  type VendorId,
  vendorFormat,
  vendorProblem,
} from '../../vendors/formats.ts';
import { keysOf } from '../../vendors/keyed.ts';
import { diskBlocksFor, rootBlocksFor } from '../../vendors/layouts.ts';
import { grubConfig, OEMS } from '../../vendors/oems.ts';
import { vendorOutputNames } from '../../vendors/outputs.ts';

const MAIN =
  'akamai ami ami_vmdk azure cloudsigma cloudstack cloudstack_vhd digitalocean exoscale gce hetzner hyperv hyperv_vhdx iso kubevirt openstack openstack_mini oraclecloud parallels proxmoxve pxe qemu_uefi scaleway stackit vagrant vagrant_parallels virtualbox vmware vmware_ova vmware_raw xen nutanix';
const STABLE_EXTRA =
  'packet rackspace rackspace_onmetal rackspace_vhd vagrant_virtualbox vagrant_vmware_fusion vmware_insecure';
const sorted = (names: string) => names.split(' ').sort();

test('format lists per release equal flatcar/scripts VALID_IMG_TYPES (main, stable-4593.2.5, lts-4081.3.10)', () => {
  const names = (version: string) =>
    formatsFor(version, 'x86-64')
      .map((f) => f.name)
      .sort();
  assert.deepEqual(names('4790.0.0'), sorted(MAIN));
  const stable = sorted(MAIN)
    .filter((n) => n !== 'oraclecloud')
    .concat(sorted(STABLE_EXTRA))
    .sort();
  assert.deepEqual(names('4593.2.5'), stable);
  assert.deepEqual(
    names('4081.3.10'),
    stable.filter((n) => !['proxmoxve', 'stackit', 'nutanix'].includes(n)),
  );
});

test('exact names only: the original substring match accepted "am"', () => {
  assert.equal(isKnownVendor('ami'), true);
  assert.equal(isKnownVendor('generic'), true);
  for (const bad of ['am', 'AMI', 'azure ', 'qemu', '']) assert.equal(isKnownVendor(bad), false, bad);
  assert.match(vendorProblem('am', '4790.0.0', 'x86-64')!, /not a vendor format/);
});

test('vendorProblem explains release and arch mismatches in one line', () => {
  assert.match(
    vendorProblem('oraclecloud', '4593.2.5', 'x86-64')!,
    /does not exist in Flatcar 4593\.2\.5: stable has it from 4722\.2\.0 on$/,
  );
  assert.match(vendorProblem('packet', '4790.0.0', 'x86-64')!, /: it was dropped in alpha 4722\.0\.0$/);
  assert.match(vendorProblem('stackit', '4344.1.0', 'x86-64')!, /: beta has it from 4344\.1\.1 on$/);
  assert.match(vendorProblem('gce', '4790.0.0', 'arm64')!, /exists only for x86-64, not arm64/);
  assert.match(vendorProblem('azure', 'latest', 'x86-64')!, /not a Flatcar version/);
  assert.equal(vendorProblem('azure', '4790.0.0', 'arm64'), undefined);
  assert.equal(vendorProblem('generic', '4081.3.10', 'arm64'), undefined);
  for (const line of VENDOR_TABLE.flatMap((f) =>
    ['4081.3.10', '4593.2.5', '4790.0.0'].map((v) => vendorProblem(f.name, v, 'arm64')),
  )) {
    if (line) assert.doesNotMatch(line, /\n/);
  }
});

test('arm64 gets the formats of the OEMs built for arm64', () => {
  const arm = formatsFor('4790.0.0', 'arm64')
    .map((f) => f.name)
    .sort();
  assert.deepEqual(
    arm,
    sorted(
      'akamai ami ami_vmdk azure hetzner kubevirt openstack openstack_mini oraclecloud proxmoxve pxe qemu_uefi scaleway stackit',
    ),
  );
});

test('every row: disk, layout and OEM as vm_image_util.sh sets them', () => {
  const expected = {
    qemu_uefi: ['qcow2', 'vm', 'qemu'],
    azure: ['vhd_fixed', 'azure', 'azure'],
    ami: ['raw', 'vm', 'ami'],
    ami_vmdk: ['vmdk_stream', 'vm', 'ami'],
    gce: ['raw', 'vm', 'gce'],
    openstack: ['qcow2', 'vm', 'openstack'],
    openstack_mini: ['qcow2', 'base', 'openstack'],
    vmware_raw: ['raw', 'base', 'vmware'],
    vmware: ['vmdk_scsi', 'vm', 'vmware'],
    vmware_ova: ['vmdk_stream', 'vm', 'vmware'],
    hyperv: ['vhd', 'base', 'hyperv'],
    hyperv_vhdx: ['vhdx', 'base', 'hyperv'],
    digitalocean: ['raw', 'base', 'digitalocean'],
    kubevirt: ['qcow2', 'vm', 'kubevirt'],
    hetzner: ['raw', 'vm', 'hetzner'],
    akamai: ['raw', 'vm', 'akamai'],
    scaleway: ['qcow2', 'vm', 'scaleway'],
    stackit: ['qcow2', 'vm', 'stackit'],
    proxmoxve: ['qcow2', 'vm', 'proxmoxve'],
    nutanix: ['qcow2', 'vm', 'nutanix'],
    oraclecloud: ['qcow2', 'vm', 'oraclecloud'],
    exoscale: ['exoscale', 'base', 'exoscale'],
    cloudsigma: ['qcow2', 'base', 'cloudsigma'],
    cloudstack: ['raw', 'base', 'cloudstack'],
    cloudstack_vhd: ['vhd', 'base', 'cloudstack'],
    virtualbox: ['vmdk_ide', 'vm', 'virtualbox'],
    xen: ['raw', 'base', undefined],
    pxe: ['cpio', 'base', undefined],
    iso: ['iso', 'base', undefined],
    parallels: ['hdd', 'vm', undefined],
  } satisfies Partial<Record<VendorId, [string, string, string | undefined]>>;
  for (const name of keysOf(expected)) {
    const [disk, layout, oem] = expected[name];
    const format = vendorFormat(name);
    assert.deepEqual([format.disk, format.layout, format.oem], [disk, layout, oem], name);
  }
  assert.equal(new Set(VENDOR_FORMATS).size, VENDOR_FORMATS.length);
});

test('a misspelt vendor or OEM name does not compile (tsc checks these lines; they never run)', () => {
  const misspelt = () => {
    // @ts-expect-error: 'azur' is not a vendor format
    vendorFormat('azur');
    // @ts-expect-error: 'qemux' is not an OEM id
    void OEMS.qemux;
    // @ts-expect-error: a vendor row's OEM is an OEM id
    const oem: VendorFormat['oem'] = 'amii';
    // @ts-expect-error: an alias names a vendor format
    const alias: (typeof VENDOR_ALIASES)[string] = 'ec2';
    return [oem, alias];
  };
  assert.equal(typeof misspelt, 'function');
});

test('output names with the CI compressions (docs/flatcar-facts.md §2.2)', () => {
  const names = (vendor: VendorId, arch: 'x86-64' | 'arm64' = 'x86-64') =>
    vendorOutputNames(vendorFormat(vendor), '4790.0.0', arch, vendorFormat(vendor).compression);
  assert.deepEqual(names('azure'), ['flatcar_production_azure_image.vhd.bz2']);
  assert.deepEqual(names('hyperv_vhdx'), ['flatcar_production_hyperv_vhdx_image.vhdx.zip']);
  assert.deepEqual(names('gce'), ['flatcar_production_gce.tar.gz']);
  assert.deepEqual(names('kubevirt'), ['flatcar_production_kubevirt_image.qcow2']);
  assert.deepEqual(names('exoscale'), ['flatcar_production_exoscale_image.qcow2']);
  assert.deepEqual(names('digitalocean'), [
    'flatcar_production_digitalocean_image.bin.gz',
    'flatcar_production_digitalocean_image.bin.bz2',
  ]);
  assert.deepEqual(names('openstack'), [
    'flatcar_production_openstack_image.img',
    'flatcar_production_openstack_image.img.gz',
    'flatcar_production_openstack_image.img.bz2',
  ]);
  assert.deepEqual(names('vmware_ova'), [
    'flatcar_production_vmware_ova.ovf',
    'flatcar_production_vmware_ova.ova',
    'flatcar_production_vmware_ova_image.vmdk.bz2',
  ]);
  assert.ok(names('qemu_uefi').includes('flatcar_production_qemu_image.img'));
  assert.ok(
    !names('qemu_uefi', 'arm64').includes('flatcar_production_qemu_image.img'),
    'arm64 has no legacy qemu names',
  );
  assert.ok(
    vendorOutputNames(vendorFormat('qemu_uefi'), '4081.3.10', 'x86-64', ['none']).includes(
      'flatcar_production_qemu_uefi_efi_code.fd',
    ),
  );
});

test('grub.cfg: oem_id ec2 for ami, openstack for stackit; the OEM id itself elsewhere', () => {
  assert.match(grubConfig(OEMS.ami), /^# Flatcar GRUB settings\n\nset oem_id="ec2"\n\n# Blacklist/);
  assert.match(grubConfig(OEMS.ami), /nvme_core\.io_timeout=4294967295/);
  assert.equal(grubConfig(OEMS.stackit), '# Flatcar GRUB settings\n\nset oem_id="openstack"\n');
  assert.equal(grubConfig(OEMS.hetzner), '# Flatcar GRUB settings\n\nset oem_id="hetzner"\n');
  assert.match(grubConfig(OEMS.azure), /set linux_append="flatcar\.autologin"\n\n# Azure only has a serial console\./);
  assert.match(grubConfig(OEMS.gce), /set oem_id="gce"\n# GCE only has a serial console\./);
  for (const spec of Object.values(OEMS)) assert.ok(grubConfig(spec).endsWith('\n'), spec.id);
});

test('OEM payload per era: ami_vmdk lacks its sysext before 4722, package OEMs are not sysexts', () => {
  assert.equal(oemPayload(vendorFormat('ami_vmdk'), '4593.2.5')!.sysext, false);
  assert.equal(oemPayload(vendorFormat('ami_vmdk'), '4790.0.0')!.sysext, true);
  assert.equal(oemPayload(vendorFormat('cloudsigma'), '4593.2.5')!.sysext, false);
  assert.equal(oemPayload(vendorFormat('cloudsigma'), '4790.0.0')!.sysext, true);
  assert.equal(oemPayload(vendorFormat('hyperv'), '4081.3.10')!.sysext, false);
  assert.equal(oemPayload(vendorFormat('hyperv'), '4593.2.5')!.sysext, true);
  assert.equal(oemPayload(vendorFormat('xen'), '4790.0.0'), undefined);
});

test('era predicates and eras (docs/flatcar-facts.md: A ≤ 4593/LTS, B 4628–4694, C ≥ 4722)', () => {
  const cases: Array<[string, 'A' | 'B' | 'C', boolean]> = [
    ['4081.3.10', 'A', false],
    ['4459.2.3', 'A', false],
    ['4487.0.0', 'A', true],
    ['4487.1.0', 'A', false],
    ['4515.1.0', 'A', true],
    ['4593.2.5', 'A', true],
    ['4628.0.0', 'B', true],
    ['4628.1.0', 'B', true],
    ['4694.1.2', 'B', true],
    ['4722.0.0', 'C', true],
    ['4790.0.0', 'C', true],
  ];
  for (const [version, era, large] of cases) {
    assert.equal(eraName(version), era, version);
    assert.equal(releaseQuirks(version).largePartitions, large, `${version} large partitions`);
  }
});

test('layouts give disk_layout.json totals (docs/flatcar-facts.md §1)', () => {
  const current = releaseQuirks('4790.0.0');
  const old = releaseQuirks('4081.3.10');
  const total = (layout: 'base' | 'vm' | 'azure' | 'vagrant', quirks: typeof current, rootStart: number) =>
    diskBlocksFor(rootStart, rootBlocksFor(layout, quirks));
  assert.equal(total('base', current, 12722176), 16515072);
  assert.equal(total('vm', current, 12722176), 25804800);
  assert.equal(total('azure', current, 12722176), 63737856);
  assert.equal(total('vagrant', current, 12722176), 46706688);
  assert.equal(total('base', old, 4857856), 9289728);
  assert.equal(total('vm', old, 4857856), 17805312);
  assert.equal(total('azure', old, 4857856), 63737856);
  assert.equal(total('vagrant', old, 4857856), 38707200);
});
