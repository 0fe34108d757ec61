/**
 * OEM ids: what goes into /oem for each cloud (docs/flatcar-facts.md §2.3). The grub
 * fragments are build_library/oem/<id>/grub.cfg on flatcar/scripts main and the equivalent
 * common-oem-files output in older releases: `# Flatcar GRUB settings`, a blank line, `set oem_id=...`,
 * then the vendor's settings.
 */
import type { Arch } from '../bake/core/arch.ts';
import { ALWAYS, fromMajor, holdsIn, NEVER, QUIRK_SINCE, type Since } from './eras.ts';
import { mapRows } from './keyed.ts';

/** One row of the OEM table, keyed by its id. */
interface OemRow {
  /** OEM_NAME of the coreos-base/oem-<id> ebuild, for oem-release when the sysext does not carry it. */
  name: string;
  arches: readonly Arch[];
  /** The releases in which the OEM ships as a sysext (`oem-<id>.raw`) rather than as an `oem-<id>` package. */
  sysextSince: Since;
  /** Lines after `set oem_id=...` in /oem/grub.cfg; none by default. */
  grubSettings?: string;
  /** The kernel command line's `flatcar.oem.id` (Ignition/Afterburn platform) when it is not the OEM id. */
  grubOemId?: string;
}

export interface OemSpec extends Required<OemRow> {
  id: OemId;
}

const BOTH: readonly Arch[] = ['x86-64', 'arm64'];
const AMD64: readonly Arch[] = ['x86-64'];
const AUTOLOGIN = 'set linux_append="flatcar.autologin"\n';

const AMI_GRUB = `
# Blacklist the Xen framebuffer module so it doesn't get loaded at boot
# Disable \`ens3\` style names, so eth0 is used for both ixgbevf or xen.
set linux_append="modprobe.blacklist=xen_fbfront net.ifnames=0 nvme_core.io_timeout=4294967295"

if [ "$grub_platform" = pc ]; then
\tset linux_console="console=ttyS0,115200n8"
\tserial com0 --speed=115200 --word=8 --parity=no
\tterminal_input serial_com0
\tterminal_output serial_com0
fi
if [ "$grub_cpu" = arm64 ]; then
\tset linux_console="console=tty1 console=ttyS0,115200n8"
fi
`;

const AZURE_GRUB = `set linux_append="flatcar.autologin"

# Azure only has a serial console.
serial --unit=0 --speed=115200 --word=8 --parity=no
terminal_input serial
terminal_output serial

if [ "$grub_cpu" = arm64 ]; then
  set linux_console="console=tty1 console=ttyAMA0,115200n8 earlycon=pl011,0xeffec000"
else
  set linux_console="console=tty1 console=ttyS0,115200n8 earlyprintk=ttyS0,115200"
fi
`;

const GCE_GRUB = `# GCE only has a serial console.
set linux_console="console=ttyS0,115200n8"
serial com0 --speed=115200 --word=8 --parity=no
terminal_input serial_com0
terminal_output serial_com0
`;

/** Era C turned the remaining package OEMs into sysexts. */
const ERA_C = QUIRK_SINCE.allOemsAreSysexts;

const OEM_ROWS = {
  akamai: { name: 'Akamai', arches: BOTH, sysextSince: ALWAYS },
  ami: { name: 'Amazon EC2', arches: BOTH, sysextSince: ALWAYS, grubSettings: AMI_GRUB, grubOemId: 'ec2' },
  azure: { name: 'Microsoft Azure', arches: BOTH, sysextSince: ALWAYS, grubSettings: AZURE_GRUB },
  cloudsigma: { name: 'CloudSigma', arches: AMD64, sysextSince: ERA_C },
  cloudstack: { name: 'CloudStack', arches: AMD64, sysextSince: ERA_C },
  digitalocean: { name: 'DigitalOcean', arches: AMD64, sysextSince: ALWAYS },
  exoscale: { name: 'Exoscale', arches: AMD64, sysextSince: ERA_C },
  gce: { name: 'Google Compute Engine', arches: AMD64, sysextSince: ALWAYS, grubSettings: GCE_GRUB },
  hetzner: { name: 'Hetzner', arches: BOTH, sysextSince: ALWAYS },
  hyperv: { name: 'Microsoft Hyper-V', arches: AMD64, sysextSince: fromMajor(4459) },
  kubevirt: { name: 'KubeVirt', arches: BOTH, sysextSince: ALWAYS },
  nutanix: { name: 'Nutanix AHV', arches: AMD64, sysextSince: ALWAYS },
  openstack: { name: 'OpenStack', arches: BOTH, sysextSince: ALWAYS, grubSettings: AUTOLOGIN },
  oraclecloud: { name: 'Oracle Cloud Infrastructure', arches: BOTH, sysextSince: ALWAYS },
  packet: { name: 'Equinix Metal', arches: BOTH, sysextSince: ALWAYS, grubSettings: AUTOLOGIN },
  proxmoxve: { name: 'Proxmox VE', arches: BOTH, sysextSince: ALWAYS, grubSettings: AUTOLOGIN },
  qemu: { name: 'QEMU', arches: BOTH, sysextSince: ALWAYS, grubSettings: AUTOLOGIN },
  rackspace: { name: 'Rackspace', arches: AMD64, sysextSince: NEVER },
  'rackspace-onmetal': { name: 'Rackspace OnMetal', arches: AMD64, sysextSince: NEVER },
  scaleway: {
    name: 'Scaleway',
    arches: BOTH,
    sysextSince: ALWAYS,
    grubSettings: 'set linux_console="console=ttyS0,115200n8 earlycon=ttyS0,115200"\n',
  },
  stackit: { name: 'STACKIT', arches: BOTH, sysextSince: ALWAYS, grubOemId: 'openstack' },
  vagrant: { name: 'Vagrant', arches: AMD64, sysextSince: ERA_C },
  'vagrant-key': { name: 'Vagrant (insecure key)', arches: AMD64, sysextSince: NEVER },
  'vagrant-virtualbox': { name: 'Vagrant VirtualBox', arches: AMD64, sysextSince: NEVER },
  virtualbox: { name: 'VirtualBox', arches: AMD64, sysextSince: ERA_C },
  vmware: { name: 'VMware', arches: AMD64, sysextSince: ALWAYS, grubSettings: AUTOLOGIN },
} satisfies Record<string, OemRow>;

/** An OEM id: a key of the table, so a misspelt id anywhere does not compile. */
export type OemId = keyof typeof OEM_ROWS;

export const OEMS: Readonly<Record<OemId, OemSpec>> = mapRows(
  OEM_ROWS,
  (id, row): OemSpec => ({ id, grubOemId: id, grubSettings: '', ...row }),
);

/** Whether the OEM is installed from `oem-<id>.raw` in release `version`. */
export function oemIsSysext(spec: OemSpec, version: string): boolean {
  return holdsIn(spec.sysextSince, version);
}

/** /oem/grub.cfg as image_to_vm (Era C) and common-oem-files (Era A/B) write it. */
export function grubConfig(spec: OemSpec): string {
  const head = `# Flatcar GRUB settings\n\nset oem_id="${spec.grubOemId}"\n`;
  return spec.grubSettings ? `${head}${spec.grubSettings}` : head;
}
