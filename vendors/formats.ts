/**
 * The vendor formats that Flatcar's image_to_vm.sh knows (flatcar/scripts build_library/vm_image_util.sh),
 * as one table: disk format, layout, OEM, extra files, CI compressions, and the releases in which each
 * exists (docs/flatcar-facts.md §2). `generic` is bake's own name for "no vendor conversion". Data and pure lookups
 * only; the engine (bake/vendor/) does the work.
 */
import type { Arch } from '../bake/core/arch.ts';
import { parseVersion, releaseQuirks, type ReleaseQuirks } from './eras.ts';
import type { LayoutName } from './layouts.ts';
import { OEMS, oemIsSysext, type OemSpec } from './oems.ts';

export type DiskFormat =
  | 'raw' | 'qcow2' | 'vhd' | 'vhd_fixed' | 'vhdx' | 'vmdk_ide' | 'vmdk_scsi' | 'vmdk_stream' | 'hdd' | 'cpio' | 'iso' | 'exoscale';

/** Config and bundle steps (IMG_<fmt>_CONF_FORMAT / _BUNDLE_FORMAT) that add or replace files. */
export type Extra = 'qemu_uefi' | 'gce' | 'ova' | 'vmx' | 'ovf_virtualbox' | 'box' | 'pvm_tgz' | 'pxe' | 'iso' | 'xl' | 'vmware_zip';

export type Compression = 'bz2' | 'gz' | 'zip' | 'zst' | 'none';
export const COMPRESSIONS: readonly Compression[] = ['bz2', 'gz', 'zip', 'zst', 'none'];

/** In which releases the format is in VALID_IMG_TYPES. */
export type Availability = 'always' | 'after4081' | 'eraC' | 'beforeEraC';

/**
 * How the native route writes a disk: `move` keeps the raw file, `qemu-img` converts as image_to_vm does,
 * `vhd-footer` appends the footer qemu-img's fixed VHD ends with (the raw disk is the rest of that file).
 */
export type NativeWriter = 'move' | 'qemu-img' | 'vhd-footer';

export interface DiskFormatSpec {
  extension: string;
  /** `qemu-img convert` target and options, as image_to_vm's `_write_<disk>_disk`; absent: no conversion. */
  qemuImg?: { format: string; options: readonly string[]; compressed?: boolean };
  /** How the native route writes it; false: only the SDK can (hdd, cpio and iso need its tools). */
  native: NativeWriter | false;
  /** Why the native image differs from the SDK's, if it does. */
  nativeDiffers?: string;
}

export const DISK_FORMATS: Record<DiskFormat, DiskFormatSpec> = {
  raw: { extension: 'bin', native: 'move' },
  qcow2: { extension: 'img', native: 'qemu-img', qemuImg: { format: 'qcow2', options: ['compat=0.10'], compressed: true } },
  exoscale: { extension: 'qcow2', native: 'qemu-img', qemuImg: { format: 'qcow2', options: ['compat=0.10'], compressed: true } },
  vhd: { extension: 'vhd', native: 'qemu-img', qemuImg: { format: 'vpc', options: ['force_size'] } },
  vhd_fixed: { extension: 'vhd', native: 'vhd-footer', qemuImg: { format: 'vpc', options: ['subformat=fixed', 'force_size'] } },
  vhdx: { extension: 'vhdx', native: 'qemu-img', qemuImg: { format: 'vhdx', options: ['subformat=dynamic'] } },
  vmdk_ide: { extension: 'vmdk', native: 'qemu-img', qemuImg: { format: 'vmdk', options: ['adapter_type=ide'] } },
  vmdk_scsi: { extension: 'vmdk', native: 'qemu-img', qemuImg: { format: 'vmdk', options: ['adapter_type=lsilogic'] } },
  vmdk_stream: {
    extension: 'vmdk',
    native: 'qemu-img',
    qemuImg: { format: 'vmdk', options: ['adapter_type=lsilogic', 'subformat=streamOptimized'] },
    nativeDiffers: 'qemu-img writes the streamOptimized VMDK where the SDK uses vmdk-convert (same disk content, other bytes)',
  },
  hdd: { extension: 'hdd', native: false },
  cpio: { extension: 'cpio.gz', native: false },
  iso: { extension: 'iso', native: false },
};

/** The writer of a disk the native route can write; chooseRoute sends every other disk to the SDK. */
export function nativeWriter(disk: DiskFormat): NativeWriter {
  const writer = DISK_FORMATS[disk].native;
  if (!writer) throw new Error(`the native route cannot write ${disk} disks`);
  return writer;
}

/** Extras the native route can produce, and what it leaves out compared to the SDK. */
export const NATIVE_EXTRAS: Partial<Record<Extra, { differs?: string }>> = {
  gce: {},
  ova: {},
  qemu_uefi: { differs: 'no Secure Boot variant (needs virt-fw-vars and the SDK keys)' },
};

export interface VendorFormat {
  name: string;
  disk: DiskFormat;
  layout: LayoutName;
  /** OEM id (key of OEMS); absent for formats without an OEM partition payload. */
  oem?: string;
  extras: readonly Extra[];
  /** Compressions Flatcar's CI publishes (ci-automation/vms.sh); the default for --compression. */
  compression: readonly Compression[];
  available: Availability;
  /** Only for formats without an OEM; otherwise the OEM's arches apply. */
  arches?: readonly Arch[];
  /** IMG_<fmt>_DISK_EXTENSION overrides. */
  extension?: string;
  /** Era A/B `IMG_ami_vmdk_SYSEXT` typo: the OEM sysext is never installed there. */
  oemSysextTypo?: boolean;
}

const BOTH: readonly Arch[] = ['x86-64', 'arm64'];
const AMD64: readonly Arch[] = ['x86-64'];

function row(name: string, disk: DiskFormat, layout: LayoutName, oem: string | undefined, compression: readonly Compression[], more: Partial<VendorFormat> = {}): VendorFormat {
  return { name, disk, layout, ...(oem ? { oem } : {}), extras: [], compression, available: 'always', ...more };
}

export const VENDOR_TABLE: readonly VendorFormat[] = [
  row('akamai', 'raw', 'vm', 'akamai', ['gz']),
  row('ami', 'raw', 'vm', 'ami', ['bz2']),
  row('ami_vmdk', 'vmdk_stream', 'vm', 'ami', ['bz2'], { oemSysextTypo: true }),
  row('azure', 'vhd_fixed', 'azure', 'azure', ['bz2']),
  row('cloudsigma', 'qcow2', 'base', 'cloudsigma', ['bz2']),
  row('cloudstack', 'raw', 'base', 'cloudstack', ['bz2']),
  row('cloudstack_vhd', 'vhd', 'base', 'cloudstack', ['bz2']),
  row('digitalocean', 'raw', 'base', 'digitalocean', ['gz', 'bz2']),
  row('exoscale', 'exoscale', 'base', 'exoscale', ['none']),
  row('gce', 'raw', 'vm', 'gce', ['none'], { extras: ['gce'] }),
  row('hetzner', 'raw', 'vm', 'hetzner', ['bz2']),
  row('hyperv', 'vhd', 'base', 'hyperv', ['zip']),
  row('hyperv_vhdx', 'vhdx', 'base', 'hyperv', ['zip']),
  row('iso', 'iso', 'base', undefined, ['bz2'], { extras: ['iso'], arches: AMD64 }),
  row('kubevirt', 'qcow2', 'vm', 'kubevirt', ['none'], { extension: 'qcow2' }),
  row('nutanix', 'qcow2', 'vm', 'nutanix', ['bz2'], { available: 'after4081' }),
  row('openstack', 'qcow2', 'vm', 'openstack', ['gz', 'bz2', 'none']),
  row('openstack_mini', 'qcow2', 'base', 'openstack', ['gz', 'bz2']),
  row('oraclecloud', 'qcow2', 'vm', 'oraclecloud', ['none'], { available: 'eraC' }),
  row('packet', 'raw', 'base', 'packet', ['bz2'], { available: 'beforeEraC' }),
  row('parallels', 'hdd', 'vm', undefined, ['none'], { extras: ['pvm_tgz'], arches: AMD64 }),
  row('proxmoxve', 'qcow2', 'vm', 'proxmoxve', ['none'], { available: 'after4081' }),
  row('pxe', 'cpio', 'base', undefined, ['bz2'], { extras: ['pxe'], arches: BOTH }),
  row('qemu_uefi', 'qcow2', 'vm', 'qemu', ['bz2', 'none'], { extras: ['qemu_uefi'] }),
  row('rackspace', 'raw', 'base', 'rackspace', ['bz2'], { available: 'beforeEraC' }),
  row('rackspace_onmetal', 'qcow2', 'onmetal', 'rackspace-onmetal', ['bz2'], { available: 'beforeEraC' }),
  row('rackspace_vhd', 'vhd', 'base', 'rackspace', ['bz2'], { available: 'beforeEraC' }),
  row('scaleway', 'qcow2', 'vm', 'scaleway', ['none'], { extension: 'qcow2' }),
  row('stackit', 'qcow2', 'vm', 'stackit', ['none'], { available: 'after4081' }),
  row('vagrant', 'vmdk_ide', 'vagrant', 'vagrant', ['none'], { extras: ['box'] }),
  row('vagrant_parallels', 'hdd', 'vagrant', 'vagrant', ['none'], { extras: ['box'] }),
  row('vagrant_virtualbox', 'vmdk_ide', 'vagrant', 'vagrant-virtualbox', ['none'], { extras: ['box'], available: 'beforeEraC' }),
  row('vagrant_vmware_fusion', 'vmdk_scsi', 'vagrant', 'vagrant', ['none'], { extras: ['box'], available: 'beforeEraC' }),
  row('virtualbox', 'vmdk_ide', 'vm', 'virtualbox', ['bz2'], { extras: ['ovf_virtualbox'] }),
  row('vmware', 'vmdk_scsi', 'vm', 'vmware', ['bz2'], { extras: ['vmx'] }),
  row('vmware_insecure', 'vmdk_scsi', 'vm', 'vagrant-key', ['bz2'], { extras: ['vmware_zip'], available: 'beforeEraC' }),
  row('vmware_ova', 'vmdk_stream', 'vm', 'vmware', ['bz2'], { extras: ['ova'] }),
  row('vmware_raw', 'raw', 'base', 'vmware', ['bz2']),
  row('xen', 'raw', 'base', undefined, ['bz2'], { extras: ['xl'], arches: AMD64 }),
];

/** Every name image_to_vm has known in some release. */
export const VENDOR_FORMATS: readonly string[] = VENDOR_TABLE.map((format) => format.name);

const BY_NAME = new Map(VENDOR_TABLE.map((format) => [format.name, format]));

/** Exact-name check (the original's substring match accepted `am` for `ami`). */
export function isKnownVendor(name: string): boolean {
  return name === 'generic' || BY_NAME.has(name);
}

export function vendorFormat(name: string): VendorFormat | undefined {
  return BY_NAME.get(name);
}

const AVAILABLE: Record<Availability, { test: (q: ReleaseQuirks) => boolean; why: string }> = {
  always: { test: () => true, why: '' },
  after4081: { test: (q) => q.after4081, why: 'was added after LTS 4081' },
  eraC: { test: (q) => q.allOemsAreSysexts, why: 'exists from release 4722 on' },
  beforeEraC: { test: (q) => !q.allOemsAreSysexts, why: 'was dropped in release 4722' },
};

export function formatArches(format: VendorFormat): readonly Arch[] {
  if (format.oem) return OEMS[format.oem]?.arches ?? AMD64;
  return format.arches ?? AMD64;
}

/** Why `name` is not a format of release `version` on `arch`, in one line; undefined when it is one. */
export function vendorProblem(name: string, version: string, arch: Arch): string | undefined {
  if (name === 'generic') return undefined;
  const format = BY_NAME.get(name);
  if (!format) return `'${name}' is not a vendor format image_to_vm.sh knows`;
  if (!parseVersion(version)) return `'${version}' is not a Flatcar version (MMMM.m.p)`;
  const availability = AVAILABLE[format.available];
  if (!availability.test(releaseQuirks(version))) return `vendor format '${name}' does not exist in Flatcar ${version}: it ${availability.why}`;
  const arches = formatArches(format);
  if (!arches.includes(arch)) return `vendor format '${name}' exists only for ${arches.join(', ')}, not ${arch}`;
  return undefined;
}

/** The formats of one release and arch, in table order. */
export function formatsFor(version: string, arch: Arch): VendorFormat[] {
  return VENDOR_TABLE.filter((format) => vendorProblem(format.name, version, arch) === undefined);
}

export interface OemPayload {
  spec: OemSpec;
  /** Install `oem-<id>.raw` as /oem/sysext/oem-<id>-<version>.raw and mark it active. */
  sysext: boolean;
}

/** What the format puts on the OEM partition in this release. */
export function oemPayload(format: VendorFormat, version: string): OemPayload | undefined {
  const spec = format.oem ? OEMS[format.oem] : undefined;
  if (!spec) return undefined;
  const quirks = releaseQuirks(version);
  const typo = format.oemSysextTypo === true && !quirks.allOemsAreSysexts;
  return { spec, sysext: oemIsSysext(spec, quirks) && !typo };
}

export function diskExtension(format: VendorFormat): string {
  return format.extension ?? DISK_FORMATS[format.disk].extension;
}

/** Why the native route cannot make this format, or makes a different image; both undefined: identical. */
export function nativeSupport(format: VendorFormat, version: string): { unsupported?: string; differs?: string } {
  const disk = DISK_FORMATS[format.disk];
  if (!disk.native) return { unsupported: `the ${format.disk} disk format needs the Flatcar SDK` };
  const missingExtra = format.extras.find((extra) => !(extra in NATIVE_EXTRAS));
  if (missingExtra) return { unsupported: `the ${missingExtra} configuration needs the Flatcar SDK` };
  const payload = oemPayload(format, version);
  if (payload && !payload.sysext) return { unsupported: `the ${payload.spec.id} OEM is an SDK-built package in Flatcar ${version}` };
  const differences = [
    releaseQuirks(version).allOemsAreSysexts ? undefined : 'before release 4722 the SDK writes oem-release from the OEM ebuild',
    disk.nativeDiffers,
    ...format.extras.map((extra) => NATIVE_EXTRAS[extra]?.differs),
  ].filter((d): d is string => d !== undefined);
  return differences.length > 0 ? { differs: differences.join('; ') } : {};
}
