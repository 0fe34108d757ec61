/**
 * OEM ids: what goes into /oem for each cloud (docs/flatcar-facts.md §2.3). The grub
 * fragments are build_library/oem/<id>/grub.cfg on flatcar/scripts main and the equivalent
 * common-oem-files output in older releases: `# Flatcar GRUB settings`, a blank line, `set oem_id=...`,
 * then the vendor's settings.
 */
import type { Arch } from '../bake/core/arch.ts';
import { ALWAYS, fromMajor, holdsIn, NEVER, QUIRK_SINCE, type Since } from './eras.ts';

export interface OemSpec {
  id: string;
  /** The kernel command line's `flatcar.oem.id` (Ignition/Afterburn platform); differs for ami and stackit. */
  grubOemId: string;
  /** Lines after `set oem_id=...` in /oem/grub.cfg. */
  grubSettings: string;
  arches: readonly Arch[];
  /** OEM_NAME of the coreos-base/oem-<id> ebuild, for oem-release when the sysext does not carry it. */
  name: string;
  /** The releases in which the OEM ships as a sysext (`oem-<id>.raw`) rather than as an `oem-<id>` package. */
  sysextSince: Since;
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

function oem(
  id: string,
  name: string,
  arches: readonly Arch[],
  sysextSince: Since,
  grubSettings = '',
  grubOemId = id,
): OemSpec {
  return { id, grubOemId, grubSettings, arches, name, sysextSince };
}

export const OEMS: Record<string, OemSpec> = {
  akamai: oem('akamai', 'Akamai', BOTH, ALWAYS),
  ami: oem('ami', 'Amazon EC2', BOTH, ALWAYS, AMI_GRUB, 'ec2'),
  azure: oem('azure', 'Microsoft Azure', BOTH, ALWAYS, AZURE_GRUB),
  cloudsigma: oem('cloudsigma', 'CloudSigma', AMD64, ERA_C),
  cloudstack: oem('cloudstack', 'CloudStack', AMD64, ERA_C),
  digitalocean: oem('digitalocean', 'DigitalOcean', AMD64, ALWAYS),
  exoscale: oem('exoscale', 'Exoscale', AMD64, ERA_C),
  gce: oem('gce', 'Google Compute Engine', AMD64, ALWAYS, GCE_GRUB),
  hetzner: oem('hetzner', 'Hetzner', BOTH, ALWAYS),
  hyperv: oem('hyperv', 'Microsoft Hyper-V', AMD64, fromMajor(4459)),
  kubevirt: oem('kubevirt', 'KubeVirt', BOTH, ALWAYS),
  nutanix: oem('nutanix', 'Nutanix AHV', AMD64, ALWAYS),
  openstack: oem('openstack', 'OpenStack', BOTH, ALWAYS, AUTOLOGIN),
  oraclecloud: oem('oraclecloud', 'Oracle Cloud Infrastructure', BOTH, ALWAYS),
  packet: oem('packet', 'Equinix Metal', BOTH, ALWAYS, AUTOLOGIN),
  proxmoxve: oem('proxmoxve', 'Proxmox VE', BOTH, ALWAYS, AUTOLOGIN),
  qemu: oem('qemu', 'QEMU', BOTH, ALWAYS, AUTOLOGIN),
  rackspace: oem('rackspace', 'Rackspace', AMD64, NEVER),
  'rackspace-onmetal': oem('rackspace-onmetal', 'Rackspace OnMetal', AMD64, NEVER),
  scaleway: oem(
    'scaleway',
    'Scaleway',
    BOTH,
    ALWAYS,
    'set linux_console="console=ttyS0,115200n8 earlycon=ttyS0,115200"\n',
  ),
  stackit: oem('stackit', 'STACKIT', BOTH, ALWAYS, '', 'openstack'),
  vagrant: oem('vagrant', 'Vagrant', AMD64, ERA_C),
  'vagrant-key': oem('vagrant-key', 'Vagrant (insecure key)', AMD64, NEVER),
  'vagrant-virtualbox': oem('vagrant-virtualbox', 'Vagrant VirtualBox', AMD64, NEVER),
  virtualbox: oem('virtualbox', 'VirtualBox', AMD64, ERA_C),
  vmware: oem('vmware', 'VMware', AMD64, ALWAYS, AUTOLOGIN),
};

/** Whether the OEM is installed from `oem-<id>.raw` in release `version`. */
export function oemIsSysext(spec: OemSpec, version: string): boolean {
  return holdsIn(spec.sysextSince, version);
}

/** /oem/grub.cfg as image_to_vm (Era C) and common-oem-files (Era A/B) write it. */
export function grubConfig(spec: OemSpec): string {
  const head = `# Flatcar GRUB settings\n\nset oem_id="${spec.grubOemId}"\n`;
  return spec.grubSettings ? `${head}${spec.grubSettings}` : head;
}
