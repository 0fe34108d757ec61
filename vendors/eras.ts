/**
 * Version-dependent behaviour of Flatcar's image_to_vm.sh and disk layouts, as named predicates on the
 * release version (docs/flatcar-facts.md §1–§3). Everything else asks these questions; nobody compares versions.
 * Thresholds marked "derived" are inferred from the releases that were read, not from a commit.
 */
export interface ReleaseQuirks {
  /** Era B/C (≥ 4628): OEM sysexts are prebuilt by the image job; image_to_vm copies `<from>/oem-<id>.raw`. */
  oemSysextPrebuilt: boolean;
  /** Era C (≥ 4722): every OEM is a sysext; image_to_vm writes /oem/grub.cfg and oem-release itself, no emerge. */
  allOemsAreSysexts: boolean;
  /** `07cc8512ef` "Increase partition sizes": alpha ≥ 4487, beta ≥ 4515, stable ≥ 4593. */
  largePartitions: boolean;
  /** proxmoxve, stackit, nutanix and the hyperv sysext are absent from LTS 4081 (derived: added after it). */
  after4081: boolean;
  /** qemu_uefi firmware ships as qcow2 (`_efi_code.qcow2`); LTS 4081 used raw `.fd` files (derived threshold). */
  qemuFirmwareQcow2: boolean;
  /** run_sdk_container creates the container with `--tmpfs /tmp:exec` (main, not stable 4593; derived: Era C). */
  sdkTmpfsTmp: boolean;
}

export interface ParsedVersion {
  major: number;
  minor: number;
  patch: number;
}

export function parseVersion(version: string): ParsedVersion | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
}

/** First major with the larger partitions, by the channel digit (0 alpha, 1 beta, 2 stable). */
const LARGE_PARTITIONS_SINCE: Record<number, number> = { 0: 4487, 1: 4515, 2: 4593 };

export function releaseQuirks(version: string): ReleaseQuirks {
  const parsed = parseVersion(version);
  const major = parsed?.major ?? 0;
  const minor = parsed?.minor ?? 0;
  const eraC = major >= 4722;
  return {
    oemSysextPrebuilt: major >= 4628,
    allOemsAreSysexts: eraC,
    largePartitions: major >= 4593 || major >= (LARGE_PARTITIONS_SINCE[minor] ?? Number.POSITIVE_INFINITY),
    after4081: major > 4081,
    qemuFirmwareQcow2: major > 4081,
    sdkTmpfsTmp: eraC,
  };
}

/** "A", "B" or "C" for humans (`bake vendors`). */
export function eraName(version: string): 'A' | 'B' | 'C' {
  const quirks = releaseQuirks(version);
  if (quirks.allOemsAreSysexts) return 'C';
  return quirks.oemSysextPrebuilt ? 'B' : 'A';
}
