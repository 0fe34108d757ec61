/**
 * Version-dependent behaviour of Flatcar's image_to_vm.sh, run_sdk_container and disk layouts, as data:
 * for each named quirk, the first release of each channel that has it (docs/flatcar-facts.md §1–§3, checked against
 * the flatcar/scripts tags). A fix backported to one channel is one entry, not a new threshold rule.
 * Everything else asks these questions; nobody compares versions.
 */
import { CHANNELS, type Channel, channelOfMinor } from '../bake/flatcar/channels.ts';

/**
 * The first release of each channel with a property. A channel left out never has it. Versions are
 * compared within the channel only: alpha 4372.0.1 says nothing about beta 4372.1.0.
 */
export type Since = Readonly<Partial<Record<Channel, string>>>;

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

/** The channel whose entry of a Since applies to `version`; a minor number that names none counts as alpha. */
export function channelOfVersion(version: string): Channel {
  return channelOfMinor(version) ?? 'alpha';
}

function compareParsed(a: ParsedVersion, b: ParsedVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** Whether `version` is at or after its channel's entry in `since`. */
export function holdsIn(since: Since, version: string): boolean {
  const parsed = parseVersion(version);
  const first = since[channelOfVersion(version)];
  const firstParsed = first === undefined ? undefined : parseVersion(first);
  return parsed !== undefined && firstParsed !== undefined && compareParsed(parsed, firstParsed) >= 0;
}

/** Present from every channel's first release of `major` (the change landed before the branch). */
export function fromMajor(major: number): Since {
  return { alpha: `${major}.0.0`, beta: `${major}.1.0`, stable: `${major}.2.0`, lts: `${major}.3.0` };
}

/**
 * Per-channel first releases of a change that reached channels at different majors (a backport). LTS
 * branches from a stable major, so it has the change from that stable major's LTS on (derived).
 */
export function perChannel(alpha: string, beta: string, stable: string): Since {
  return { alpha, beta, stable, lts: `${parseVersion(stable)!.major}.3.0` };
}

export const ALWAYS: Since = fromMajor(0);
export const NEVER: Since = {};

/** Human form of a Since, e.g. "alpha 4372.0.1, beta 4344.1.1, stable 4230.2.1, lts 4230.3.0". */
export function describeSince(since: Since): string {
  if (CHANNELS.every((channel) => parseVersion(since[channel] ?? '')?.major === 0)) return 'always';
  const entries = CHANNELS.filter((channel) => since[channel] !== undefined).map(
    (channel) => `${channel} ${since[channel]}`,
  );
  return entries.length > 0 ? entries.join(', ') : 'never';
}

/** `07cc8512ef` "Increase partition sizes" and `f0c94a9107` (the vm layout for AWS and Akamai) arrived together. */
const LARGER_DISKS = perChannel('4487.0.0', '4515.1.0', '4593.2.0');

/** The quirks, each with the releases that have it. */
export const QUIRK_SINCE = {
  /** Era B/C: OEM sysexts are prebuilt by the image job; image_to_vm copies `<from>/oem-<id>.raw`. */
  oemSysextPrebuilt: fromMajor(4628),
  /** Era C: every OEM is a sysext; image_to_vm writes /oem/grub.cfg and oem-release itself, no emerge. */
  allOemsAreSysexts: fromMajor(4722),
  /** The larger partitions of disk_layout.json. */
  largePartitions: LARGER_DISKS,
  /** akamai, ami and ami_vmdk use the `vm` layout instead of `base`. */
  awsAkamaiVmLayout: LARGER_DISKS,
  /** qemu_uefi firmware ships as qcow2 (`_efi_code.qcow2`) instead of raw `.fd` files. */
  firmwareIsQcow2: fromMajor(4152),
  /** run_sdk_container mounts a tmpfs on the container's /tmp (`--mount type=tmpfs,destination=/tmp`). */
  sdkTmpIsTmpfs: fromMajor(4344),
  /** ... as `--tmpfs /tmp:exec` instead. */
  sdkTmpfsIsExec: fromMajor(4593),
  /** qemu_uefi's README says `-display curses` (QEMU 7.1+) rather than `-curses`. */
  qemuDisplayCurses: fromMajor(4694),
} satisfies Record<string, Since>;

export type QuirkName = keyof typeof QUIRK_SINCE;
export type ReleaseQuirks = Record<QuirkName, boolean>;

export function releaseQuirks(version: string): ReleaseQuirks {
  const entries = Object.entries(QUIRK_SINCE).map(([name, since]) => [name, holdsIn(since, version)]);
  return Object.fromEntries(entries) as ReleaseQuirks;
}

/** "A", "B" or "C" for humans (`bake vendors`). */
export function eraName(version: string): 'A' | 'B' | 'C' {
  const quirks = releaseQuirks(version);
  if (quirks.allOemsAreSysexts) return 'C';
  return quirks.oemSysextPrebuilt ? 'B' : 'A';
}
