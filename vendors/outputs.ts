/**
 * Output file names, as image_to_vm.sh names them (docs/flatcar-facts.md §2.1, §2.2,
 * "qemu_uefi extras"). Pure, so `bake --dry-run` and the tests can list them without doing anything.
 */
import type { Arch } from '../bake/core/arch.ts';
import { releaseQuirks } from './eras.ts';
import { type Compression, diskExtension, type Extra, type VendorFormat } from './formats.ts';

/** release_util.sh compresses only these (VM_GENERATED_FILES matching this pattern). */
export const COMPRESSIBLE = /\.(img|bin|vdi|vhd|vhdx|vmdk|qcow2?)$/;

export interface VendorFile {
  name: string;
  /** A symlink to this other output, as image_to_vm makes for the legacy qemu names. */
  linkTo?: string;
}

export const baseName = (format: VendorFormat) => `flatcar_production_${format.name}`;
export const diskFileName = (format: VendorFormat) => `${baseName(format)}_image.${diskExtension(format)}`;

export function qemuFirmwareNames(format: VendorFormat, version: string): { code: string; vars: string } {
  const ext = releaseQuirks(version).firmwareIsQcow2 ? 'qcow2' : 'fd';
  return { code: `${baseName(format)}_efi_code.${ext}`, vars: `${baseName(format)}_efi_vars.${ext}` };
}

interface OutputNames {
  base: string;
  disk: string;
  format: VendorFormat;
  version: string;
  arch: Arch;
}

function qemuUefiFiles({ base, disk, format, version, arch }: OutputNames): VendorFile[] {
  const firmware = qemuFirmwareNames(format, version);
  const files: VendorFile[] = [
    { name: disk },
    { name: `${base}.sh` },
    { name: `${base}.README` },
    { name: firmware.code },
    { name: firmware.vars },
  ];
  // The legacy `qemu` names point at the UEFI image on amd64 only.
  if (arch === 'x86-64')
    files.push(
      { name: 'flatcar_production_qemu_image.img', linkTo: disk },
      { name: 'flatcar_production_qemu.sh', linkTo: `${base}.sh` },
    );
  return files;
}

/**
 * The files of the extras that change what a format generates; a format whose extras are not here
 * generates its disk alone (the SDK-only extras' other files are image_to_vm's to list).
 */
const EXTRA_FILES: Partial<Record<Extra, (names: OutputNames) => VendorFile[]>> = {
  gce: ({ base }) => [{ name: `${base}.tar.gz` }],
  ova: ({ base, disk }) => [{ name: `${base}.ovf` }, { name: `${base}.ova` }, { name: disk }],
  qemu_uefi: qemuUefiFiles,
};

/** The uncompressed files a format generates (VM_GENERATED_FILES), in image_to_vm's order. */
export function generatedFiles(format: VendorFormat, version: string, arch: Arch): VendorFile[] {
  const names: OutputNames = { base: baseName(format), disk: diskFileName(format), format, version, arch };
  const files = format.extras.map((extra) => EXTRA_FILES[extra]).find((make) => make !== undefined);
  return files ? files(names) : [{ name: names.disk }];
}

/** Final names after compression: `<file>.<fmt>` for compressible files; the plain file only with `none`. */
export function compressedFiles(files: readonly VendorFile[], compression: readonly Compression[]): VendorFile[] {
  const keepPlain = compression.includes('none');
  const formats = compression.filter((c) => c !== 'none');
  return files.flatMap((file) => {
    if (!COMPRESSIBLE.test(file.name) || formats.length === 0) return [file];
    const compressed = formats.map((c) => ({
      name: `${file.name}.${c}`,
      ...(file.linkTo ? { linkTo: `${file.linkTo}.${c}` } : {}),
    }));
    return keepPlain ? [file, ...compressed] : compressed;
  });
}

export function vendorOutputNames(
  format: VendorFormat,
  version: string,
  arch: Arch,
  compression: readonly Compression[],
): string[] {
  return compressedFiles(generatedFiles(format, version, arch), compression).map((file) => file.name);
}
