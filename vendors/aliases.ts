import type { VendorId } from './formats.ts';

/**
 * Other names users reach for when they mean a vendor format (suggested, not accepted: the format
 * name is what every file and doc of Flatcar uses): the cloud's common name for it.
 */
export const VENDOR_ALIASES: Readonly<Record<string, VendorId>> = {
  aws: 'ami',
  ec2: 'ami',
  gcp: 'gce',
  google: 'gce',
  linode: 'akamai',
  equinix: 'packet',
  qemu: 'qemu_uefi',
  'hyper-v': 'hyperv',
  proxmox: 'proxmoxve',
  oci: 'oraclecloud',
};
