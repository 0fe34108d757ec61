/**
 * The vendor formats that Flatcar's image_to_vm.sh knows (flatcar/scripts VALID_IMG_TYPES), by era.
 * `generic` is bake's own name for "no vendor conversion". The vendor catalogue issue grows this list
 * into the full format table.
 */
export const VENDOR_FORMATS: readonly string[] = [
  'akamai', 'ami', 'ami_vmdk', 'azure', 'cloudsigma', 'cloudstack', 'cloudstack_vhd', 'digitalocean', 'exoscale',
  'gce', 'hetzner', 'hyperv', 'hyperv_vhdx', 'iso', 'kubevirt', 'nutanix', 'openstack', 'openstack_mini', 'oraclecloud',
  'packet', 'parallels', 'proxmoxve', 'pxe', 'qemu_uefi', 'rackspace', 'rackspace_onmetal', 'rackspace_vhd', 'scaleway',
  'stackit', 'vagrant', 'vagrant_parallels', 'vagrant_virtualbox', 'vagrant_vmware_fusion', 'virtualbox', 'vmware',
  'vmware_insecure', 'vmware_ova', 'vmware_raw', 'xen',
];

/** Exact-name check (the original's substring match accepted `am` for `ami`). */
export function isKnownVendor(name: string): boolean {
  return name === 'generic' || VENDOR_FORMATS.includes(name);
}
