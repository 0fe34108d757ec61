/**
 * UEFI firmware for the VM: the pair a qemu_uefi release ships next to its image (docs/flatcar-facts.md
 * §2.4), else the host's OVMF from the distribution paths below. The vars file is always
 * copied, because the firmware writes boot entries into it.
 */
import { access, copyFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Arch } from '../core/arch.ts';
import { toolError } from '../core/errors.ts';

export interface FirmwarePair {
  code: string;
  vars: string;
}

export interface Firmware extends FirmwarePair {
  codeFormat: 'raw' | 'qcow2';
  varsFormat: 'raw' | 'qcow2';
}

/** File names inside a release directory or a --firmware-dir, newest naming first. */
const RELEASE_PAIRS: FirmwarePair[] = [
  { code: 'flatcar_production_qemu_uefi_efi_code.qcow2', vars: 'flatcar_production_qemu_uefi_efi_vars.qcow2' },
  { code: 'flatcar_production_qemu_uefi_efi_code.fd', vars: 'flatcar_production_qemu_uefi_efi_vars.fd' },
  { code: 'OVMF_CODE_4M.fd', vars: 'OVMF_VARS_4M.fd' },
  { code: 'OVMF_CODE.fd', vars: 'OVMF_VARS.fd' },
];

/** Where distributions install OVMF (Debian/Ubuntu, Fedora, Arch, openSUSE, Gentoo); AAVMF for arm64. */
export const HOST_FIRMWARE_BY_ARCH: Record<Arch, FirmwarePair[]> = {
  'x86-64': [
    { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
    { code: '/usr/share/OVMF/OVMF_CODE.fd', vars: '/usr/share/OVMF/OVMF_VARS.fd' },
    { code: '/usr/share/edk2/ovmf/OVMF_CODE.fd', vars: '/usr/share/edk2/ovmf/OVMF_VARS.fd' },
    { code: '/usr/share/edk2/x64/OVMF_CODE.4m.fd', vars: '/usr/share/edk2/x64/OVMF_VARS.4m.fd' },
    { code: '/usr/share/qemu/ovmf-x86_64-code.bin', vars: '/usr/share/qemu/ovmf-x86_64-vars.bin' },
    { code: '/usr/share/edk2-ovmf/OVMF_CODE.fd', vars: '/usr/share/edk2-ovmf/OVMF_VARS.fd' },
  ],
  arm64: [
    { code: '/usr/share/AAVMF/AAVMF_CODE.fd', vars: '/usr/share/AAVMF/AAVMF_VARS.fd' },
    { code: '/usr/share/edk2/aarch64/QEMU_EFI.fd', vars: '/usr/share/edk2/aarch64/QEMU_VARS.fd' },
  ],
};

/** The host's x86-64 firmware: what `bake boot` runs (it boots x86-64 guests). */
export const HOST_FIRMWARE = HOST_FIRMWARE_BY_ARCH['x86-64'];

/** The Debian package that installs HOST_FIRMWARE. */
export const HOST_FIRMWARE_PACKAGE = 'ovmf';

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

function formatOf(path: string): 'raw' | 'qcow2' {
  return path.endsWith('.qcow2') ? 'qcow2' : 'raw';
}

/** The candidate pairs in search order: the given directory, the image's directory, then the host. */
export function firmwareCandidates(image: string, firmwareDir?: string): FirmwarePair[] {
  const inDir = (dir: string) =>
    RELEASE_PAIRS.map((pair) => ({ code: join(dir, pair.code), vars: join(dir, pair.vars) }));
  return [...(firmwareDir ? inDir(firmwareDir) : []), ...inDir(dirname(image)), ...HOST_FIRMWARE];
}

export async function findFirmware(candidates: readonly FirmwarePair[]): Promise<FirmwarePair> {
  for (const pair of candidates) {
    if ((await exists(pair.code)) && (await exists(pair.vars))) return pair;
  }
  throw toolError(
    'no UEFI firmware found (needed to boot Flatcar images)',
    `install OVMF (apt-get install ${HOST_FIRMWARE_PACKAGE}) or pass --firmware-dir with the release's *_efi_code/_efi_vars files`,
  );
}

/** Copies the vars file into `workDir`, so the original stays pristine. */
export async function prepareFirmware(pair: FirmwarePair, workDir: string): Promise<Firmware> {
  const format = formatOf(pair.vars);
  const vars = join(workDir, `efi_vars.${format === 'qcow2' ? 'qcow2' : 'fd'}`);
  await copyFile(pair.vars, vars);
  return { code: pair.code, vars, codeFormat: formatOf(pair.code), varsFormat: format };
}
