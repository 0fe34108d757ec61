/**
 * The vendor formats that Flatcar's image_to_vm.sh knows (flatcar/scripts build_library/vm_image_util.sh),
 * as one table: disk format, layout, OEM, extra files, CI compressions, and the releases in which each
 * exists (docs/flatcar-facts.md §2). `generic` is bake's own name for "no vendor conversion". Data and pure lookups
 * only; the engine (bake/vendor/) does the work.
 */
import type { Arch } from '../bake/core/arch.ts';
import {
  ALWAYS,
  channelOfVersion,
  fromMajor,
  holdsIn,
  parseVersion,
  perChannel,
  QUIRK_SINCE,
  releaseQuirks,
  type Since,
} from './eras.ts';
import { keysOf, mapRows } from './keyed.ts';
import type { LayoutName } from './layouts.ts';
import { OEMS, type OemId, type OemSpec, oemIsSysext } from './oems.ts';

export type DiskFormat =
  | 'raw'
  | 'qcow2'
  | 'vhd'
  | 'vhd_fixed'
  | 'vhdx'
  | 'vmdk_ide'
  | 'vmdk_scsi'
  | 'vmdk_stream'
  | 'hdd'
  | 'cpio'
  | 'iso'
  | 'exoscale';

/** Config and bundle steps (IMG_<fmt>_CONF_FORMAT / _BUNDLE_FORMAT) that add or replace files. */
export type Extra =
  | 'qemu_uefi'
  | 'gce'
  | 'ova'
  | 'vmx'
  | 'ovf_virtualbox'
  | 'box'
  | 'pvm_tgz'
  | 'pxe'
  | 'iso'
  | 'xl'
  | 'vmware_zip';

export type Compression = 'bz2' | 'gz' | 'zip' | 'zst' | 'none';
export const COMPRESSIONS: readonly Compression[] = ['bz2', 'gz', 'zip', 'zst', 'none'];

/** In which releases the format is in VALID_IMG_TYPES: from `since` on, and before `until` if given. */
export interface Availability {
  since: Since;
  until?: Since;
}

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
  /** `qemu-img resize OUT <n>G` after the conversion (never shrinking). */
  resizeGiB?: number;
  /** Why the native image differs from the SDK's, if it does. */
  nativeDiffers?: string;
}

export const DISK_FORMATS: Record<DiskFormat, DiskFormatSpec> = {
  raw: { extension: 'bin', native: 'move' },
  qcow2: {
    extension: 'img',
    native: 'qemu-img',
    qemuImg: { format: 'qcow2', options: ['compat=0.10'], compressed: true },
  },
  exoscale: {
    extension: 'qcow2',
    native: 'qemu-img',
    qemuImg: { format: 'qcow2', options: ['compat=0.10'], compressed: true },
    resizeGiB: 10,
  },
  vhd: { extension: 'vhd', native: 'qemu-img', qemuImg: { format: 'vpc', options: ['force_size'] } },
  vhd_fixed: {
    extension: 'vhd',
    native: 'vhd-footer',
    qemuImg: { format: 'vpc', options: ['subformat=fixed', 'force_size'] },
  },
  vhdx: { extension: 'vhdx', native: 'qemu-img', qemuImg: { format: 'vhdx', options: ['subformat=dynamic'] } },
  vmdk_ide: { extension: 'vmdk', native: 'qemu-img', qemuImg: { format: 'vmdk', options: ['adapter_type=ide'] } },
  vmdk_scsi: { extension: 'vmdk', native: 'qemu-img', qemuImg: { format: 'vmdk', options: ['adapter_type=lsilogic'] } },
  vmdk_stream: {
    extension: 'vmdk',
    native: 'qemu-img',
    qemuImg: { format: 'vmdk', options: ['adapter_type=lsilogic', 'subformat=streamOptimized'] },
    nativeDiffers:
      'qemu-img writes the streamOptimized VMDK where the SDK uses vmdk-convert (same disk content, other bytes)',
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

/** One row of the vendor table, keyed by the format's name. */
interface FormatRow {
  disk: DiskFormat;
  layout: LayoutName;
  /** Absent for formats without an OEM partition payload. */
  oem?: OemId;
  /** None by default. */
  extras?: readonly Extra[];
  /** Compressions Flatcar's CI publishes (ci-automation/vms.sh); the default for --compression. */
  compression: readonly Compression[];
  /** Every release by default. */
  available?: Availability;
  /** Only for formats without an OEM; otherwise the OEM's arches apply. */
  arches?: readonly Arch[];
  /** IMG_<fmt>_DISK_EXTENSION overrides. */
  extension?: string;
  /** Era A/B `IMG_ami_vmdk_SYSEXT` typo: the OEM sysext is never installed there. */
  oemSysextTypo?: boolean;
  /** How the row read before each change; formatIn applies them for a release. */
  changes?: readonly FormatChange[];
}

export interface VendorFormat extends FormatRow {
  name: VendorId;
  extras: readonly Extra[];
  available: Availability;
}

/** From `since` on the row is as the table says; before, `before`'s fields replace the row's. */
export interface FormatChange {
  since: Since;
  before: Partial<Pick<VendorFormat, 'disk' | 'layout' | 'compression' | 'oemSysextTypo'>>;
}

/** akamai, ami and ami_vmdk had the base layout before the larger disks. */
const BASE_LAYOUT_BEFORE: FormatChange = { since: QUIRK_SINCE.awsAkamaiVmLayout, before: { layout: 'base' } };
/** `IMG_ami_vmdk_SYSEXT=oem-ami` (for `_OEM_SYSEXT`) until Era C rewrote the table. */
const AMI_VMDK_TYPO_BEFORE: FormatChange = { since: QUIRK_SINCE.allOemsAreSysexts, before: { oemSysextTypo: true } };
/** Before 4722 exoscale was a plain qcow2 (`.img`, not resized) that CI compressed with bz2. */
const EXOSCALE_QCOW2_BEFORE: FormatChange = { since: fromMajor(4722), before: { disk: 'qcow2', compression: ['bz2'] } };

/** oraclecloud arrived with Era C; packet, rackspace*, vagrant_virtualbox, vagrant_vmware_fusion and vmware_insecure left. */
const ERA_C: Availability = { since: QUIRK_SINCE.allOemsAreSysexts };
const BEFORE_ERA_C: Availability = { since: ALWAYS, until: QUIRK_SINCE.allOemsAreSysexts };

const BOTH: readonly Arch[] = ['x86-64', 'arm64'];
const AMD64: readonly Arch[] = ['x86-64'];

const FORMAT_ROWS = {
  akamai: { disk: 'raw', layout: 'vm', oem: 'akamai', compression: ['gz'], changes: [BASE_LAYOUT_BEFORE] },
  ami: { disk: 'raw', layout: 'vm', oem: 'ami', compression: ['bz2'], changes: [BASE_LAYOUT_BEFORE] },
  ami_vmdk: {
    disk: 'vmdk_stream',
    layout: 'vm',
    oem: 'ami',
    compression: ['bz2'],
    changes: [BASE_LAYOUT_BEFORE, AMI_VMDK_TYPO_BEFORE],
  },
  azure: { disk: 'vhd_fixed', layout: 'azure', oem: 'azure', compression: ['bz2'] },
  cloudsigma: { disk: 'qcow2', layout: 'base', oem: 'cloudsigma', compression: ['bz2'] },
  cloudstack: { disk: 'raw', layout: 'base', oem: 'cloudstack', compression: ['bz2'] },
  cloudstack_vhd: { disk: 'vhd', layout: 'base', oem: 'cloudstack', compression: ['bz2'] },
  digitalocean: { disk: 'raw', layout: 'base', oem: 'digitalocean', compression: ['gz', 'bz2'] },
  exoscale: {
    disk: 'exoscale',
    layout: 'base',
    oem: 'exoscale',
    compression: ['none'],
    changes: [EXOSCALE_QCOW2_BEFORE],
  },
  gce: { disk: 'raw', layout: 'vm', oem: 'gce', compression: ['none'], extras: ['gce'] },
  hetzner: { disk: 'raw', layout: 'vm', oem: 'hetzner', compression: ['bz2'] },
  hyperv: { disk: 'vhd', layout: 'base', oem: 'hyperv', compression: ['zip'] },
  hyperv_vhdx: { disk: 'vhdx', layout: 'base', oem: 'hyperv', compression: ['zip'] },
  iso: { disk: 'iso', layout: 'base', compression: ['bz2'], extras: ['iso'], arches: AMD64 },
  kubevirt: { disk: 'qcow2', layout: 'vm', oem: 'kubevirt', compression: ['none'], extension: 'qcow2' },
  nutanix: {
    disk: 'qcow2',
    layout: 'vm',
    oem: 'nutanix',
    compression: ['bz2'],
    available: { since: perChannel('4515.0.0', '4459.1.1', '4459.2.0') },
  },
  openstack: { disk: 'qcow2', layout: 'vm', oem: 'openstack', compression: ['gz', 'bz2', 'none'] },
  openstack_mini: { disk: 'qcow2', layout: 'base', oem: 'openstack', compression: ['gz', 'bz2'] },
  oraclecloud: { disk: 'qcow2', layout: 'vm', oem: 'oraclecloud', compression: ['none'], available: ERA_C },
  packet: { disk: 'raw', layout: 'base', oem: 'packet', compression: ['bz2'], available: BEFORE_ERA_C },
  parallels: { disk: 'hdd', layout: 'vm', compression: ['none'], extras: ['pvm_tgz'], arches: AMD64 },
  proxmoxve: {
    disk: 'qcow2',
    layout: 'vm',
    oem: 'proxmoxve',
    compression: ['none'],
    available: { since: fromMajor(4152) },
  },
  pxe: { disk: 'cpio', layout: 'base', compression: ['bz2'], extras: ['pxe'], arches: BOTH },
  qemu_uefi: { disk: 'qcow2', layout: 'vm', oem: 'qemu', compression: ['bz2', 'none'], extras: ['qemu_uefi'] },
  rackspace: { disk: 'raw', layout: 'base', oem: 'rackspace', compression: ['bz2'], available: BEFORE_ERA_C },
  rackspace_onmetal: {
    disk: 'qcow2',
    layout: 'onmetal',
    oem: 'rackspace-onmetal',
    compression: ['bz2'],
    available: BEFORE_ERA_C,
  },
  rackspace_vhd: { disk: 'vhd', layout: 'base', oem: 'rackspace', compression: ['bz2'], available: BEFORE_ERA_C },
  scaleway: { disk: 'qcow2', layout: 'vm', oem: 'scaleway', compression: ['none'], extension: 'qcow2' },
  stackit: {
    disk: 'qcow2',
    layout: 'vm',
    oem: 'stackit',
    compression: ['none'],
    available: { since: perChannel('4372.0.1', '4344.1.1', '4230.2.1') },
  },
  vagrant: { disk: 'vmdk_ide', layout: 'vagrant', oem: 'vagrant', compression: ['none'], extras: ['box'] },
  vagrant_parallels: { disk: 'hdd', layout: 'vagrant', oem: 'vagrant', compression: ['none'], extras: ['box'] },
  vagrant_virtualbox: {
    disk: 'vmdk_ide',
    layout: 'vagrant',
    oem: 'vagrant-virtualbox',
    compression: ['none'],
    extras: ['box'],
    available: BEFORE_ERA_C,
  },
  vagrant_vmware_fusion: {
    disk: 'vmdk_scsi',
    layout: 'vagrant',
    oem: 'vagrant',
    compression: ['none'],
    extras: ['box'],
    available: BEFORE_ERA_C,
  },
  virtualbox: { disk: 'vmdk_ide', layout: 'vm', oem: 'virtualbox', compression: ['bz2'], extras: ['ovf_virtualbox'] },
  vmware: { disk: 'vmdk_scsi', layout: 'vm', oem: 'vmware', compression: ['bz2'], extras: ['vmx'] },
  vmware_insecure: {
    disk: 'vmdk_scsi',
    layout: 'vm',
    oem: 'vagrant-key',
    compression: ['bz2'],
    extras: ['vmware_zip'],
    available: BEFORE_ERA_C,
  },
  vmware_ova: { disk: 'vmdk_stream', layout: 'vm', oem: 'vmware', compression: ['bz2'], extras: ['ova'] },
  vmware_raw: { disk: 'raw', layout: 'base', oem: 'vmware', compression: ['bz2'] },
  xen: { disk: 'raw', layout: 'base', compression: ['bz2'], extras: ['xl'], arches: AMD64 },
} satisfies Record<string, FormatRow>;

/** A vendor format name: a key of the table, so a misspelt name anywhere does not compile. */
export type VendorId = keyof typeof FORMAT_ROWS;

/** Every row as the table reads today (formatIn gives a release's view of it). */
export const FORMATS: Readonly<Record<VendorId, VendorFormat>> = mapRows(
  FORMAT_ROWS,
  (name, row): VendorFormat => ({ name, extras: [], available: { since: ALWAYS }, ...row }),
);

export const VENDOR_TABLE: readonly VendorFormat[] = Object.values(FORMATS);

/** Every name image_to_vm has known in some release. */
export const VENDOR_FORMATS: readonly VendorId[] = keysOf(FORMAT_ROWS);

/** Exact-name check of a name from outside (the original's substring match accepted `am` for `ami`). */
export function isVendorId(name: string): name is VendorId {
  return Object.hasOwn(FORMATS, name);
}

export function isKnownVendor(name: string): boolean {
  return name === 'generic' || isVendorId(name);
}

/** The row as it reads in release `version`: every change that release does not have yet is undone. */
export function formatIn(format: VendorFormat, version: string): VendorFormat {
  const pending = (format.changes ?? []).filter((change) => !holdsIn(change.since, version));
  const row = { ...format };
  for (const change of pending) Object.assign(row, change.before);
  return row;
}

/** The row of `name` (as of `version` when given, else as the table reads today). */
export function vendorFormat(name: VendorId, version?: string): VendorFormat {
  return version ? formatIn(FORMATS[name], version) : FORMATS[name];
}

/** Why the format is not in VALID_IMG_TYPES of `version`, from the availability data; undefined when it is. */
function availabilityProblem(format: VendorFormat, version: string): string | undefined {
  const channel = channelOfVersion(version);
  const { since, until } = format.available;
  if (!holdsIn(since, version))
    return since[channel] ? `${channel} has it from ${since[channel]} on` : `${channel} never had it`;
  if (until && holdsIn(until, version)) return `it was dropped in ${channel} ${until[channel]}`;
  return undefined;
}

/** Whether release `version` has the format, whatever the arch. */
export function existsIn(format: VendorFormat, version: string): boolean {
  return availabilityProblem(format, version) === undefined;
}

export function formatArches(format: VendorFormat): readonly Arch[] {
  if (format.oem) return OEMS[format.oem].arches;
  return format.arches ?? AMD64;
}

/** Why `name` is not a format of release `version` on `arch`, in one line; undefined when it is one. */
export function vendorProblem(name: string, version: string, arch: Arch): string | undefined {
  if (name === 'generic') return undefined;
  if (!isVendorId(name)) return `'${name}' is not a vendor format image_to_vm.sh knows`;
  const format = FORMATS[name];
  if (!parseVersion(version)) return `'${version}' is not a Flatcar version (MMMM.m.p)`;
  const missing = availabilityProblem(format, version);
  if (missing) return `vendor format '${name}' does not exist in Flatcar ${version}: ${missing}`;
  const arches = formatArches(format);
  if (!arches.includes(arch)) return `vendor format '${name}' exists only for ${arches.join(', ')}, not ${arch}`;
  return undefined;
}

/** The formats of one release and arch, in table order, as that release has them. */
export function formatsFor(version: string, arch: Arch): VendorFormat[] {
  return VENDOR_TABLE.filter((format) => vendorProblem(format.name, version, arch) === undefined).map((format) =>
    formatIn(format, version),
  );
}

export interface OemPayload {
  spec: OemSpec;
  /** Install `oem-<id>.raw` as /oem/sysext/oem-<id>-<version>.raw and mark it active. */
  sysext: boolean;
}

/** What the format puts on the OEM partition in this release. */
export function oemPayload(format: VendorFormat, version: string): OemPayload | undefined {
  if (!format.oem) return undefined;
  const spec = OEMS[format.oem];
  const typo = formatIn(format, version).oemSysextTypo === true;
  return { spec, sysext: oemIsSysext(spec, version) && !typo };
}

export function diskExtension(format: VendorFormat): string {
  return format.extension ?? DISK_FORMATS[format.disk].extension;
}

/** Why the native route cannot make this format, or makes a different image; both undefined: identical. */
export function nativeSupport(row: VendorFormat, version: string): { unsupported?: string; differs?: string } {
  const format = formatIn(row, version);
  const disk = DISK_FORMATS[format.disk];
  if (!disk.native) return { unsupported: `the ${format.disk} disk format needs the Flatcar SDK` };
  const missingExtra = format.extras.find((extra) => !(extra in NATIVE_EXTRAS));
  if (missingExtra) return { unsupported: `the ${missingExtra} configuration needs the Flatcar SDK` };
  const payload = oemPayload(format, version);
  if (payload && !payload.sysext)
    return { unsupported: `the ${payload.spec.id} OEM is an SDK-built package in Flatcar ${version}` };
  const differences = [
    releaseQuirks(version).allOemsAreSysexts
      ? undefined
      : 'before release 4722 the SDK writes oem-release from the OEM ebuild',
    disk.nativeDiffers,
    ...format.extras.map((extra) => NATIVE_EXTRAS[extra]?.differs),
  ].filter((d): d is string => d !== undefined);
  return differences.length > 0 ? { differs: differences.join('; ') } : {};
}
