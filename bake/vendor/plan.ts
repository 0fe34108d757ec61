/**
 * The vendor step, planned without side effects: which route, which files to download, which outputs
 * appear and the steps in between. `bake --dry-run` prints this; produceVendorImage follows it.
 */

import { releaseQuirks } from '../../vendors/eras.ts';
import {
  COMPRESSIONS,
  type Compression,
  DISK_FORMATS,
  type DiskFormatSpec,
  isVendorId,
  type NativeWriter,
  nativeSupport,
  nativeWriter,
  oemPayload,
  type VendorFormat,
  vendorFormat,
  vendorProblem,
} from '../../vendors/formats.ts';
import type { LayoutName } from '../../vendors/layouts.ts';
import { qemuFirmwareNames, vendorOutputNames } from '../../vendors/outputs.ts';
import { SCRIPTS_TAG_TREES } from '../../vendors/scripts-pins.ts';
import type { Endpoints } from '../core/endpoints.ts';
import { inputError, usageError } from '../core/errors.ts';
import type { ResolvedRelease } from '../flatcar/release.ts';
import { PINNED_ONLY, type ScriptsTrust } from './scripts-trust.ts';

export type VendorRoute = 'sdk' | 'native';
/** ResolvedRelease plus FLATCAR_SDK_VERSION when the pipeline already read version.txt. */
export type VendorRelease = ResolvedRelease & { sdkVersion?: string };
export type RouteChoice = VendorRoute | 'auto';

export const SYSEXT_SQUASHFS = 'flatcar_production_image_sysext.squashfs';
export const QEMU_TEMPLATE = 'build_library/qemu_template.sh';
export const OVF_TEMPLATE = 'build_library/template_vmware.ovf';

export interface PlanInput {
  vendor: string;
  route: RouteChoice;
  release: VendorRelease;
  outputDir: string;
  compression?: string[];
  /** image_to_vm's --disk_layout: overrides the format's layout. */
  diskLayout?: LayoutName;
  /** What vouches for the flatcar/scripts files the route runs (default: the pinned digests only). */
  scripts?: ScriptsTrust;
}

export interface VendorPlan {
  route: VendorRoute;
  /** Why this route (auto's reasoning, or that it was asked for). */
  reason: string;
  /** The compressions the outputs get, in order. */
  compression: Compression[];
  outputs: string[];
  downloads: string[];
  steps: string[];
}

/** The format row, or a usage error naming why the format is not in this release/arch. */
export function requireFormat(vendor: string, release: ResolvedRelease): VendorFormat {
  const problem = vendorProblem(vendor, release.version, release.arch);
  if (problem || !isVendorId(vendor))
    throw usageError(
      problem ?? `'${vendor}' is not a vendor format`,
      'run `bake vendors --release <version>` for the formats of a release',
    );
  return vendorFormat(vendor, release.version);
}

export function parseCompression(values: readonly string[] | undefined, format: VendorFormat): Compression[] {
  if (!values || values.length === 0) return [...format.compression];
  const list = values
    .flatMap((value) => value.split(','))
    .map((value) => value.trim())
    .filter(Boolean);
  const unknown = list.find((value) => !(COMPRESSIONS as readonly string[]).includes(value));
  if (unknown) throw usageError(`unknown compression '${unknown}'`, `use a comma list of ${COMPRESSIONS.join(', ')}`);
  return [...new Set(list)] as Compression[];
}

export function chooseRoute(
  format: VendorFormat,
  version: string,
  requested: RouteChoice,
): { route: VendorRoute; reason: string } {
  const support = nativeSupport(format, version);
  if (requested === 'sdk') return { route: 'sdk', reason: 'asked for the SDK route' };
  if (requested === 'native') {
    if (support.unsupported)
      throw inputError(
        `the native route cannot make '${format.name}': ${support.unsupported}`,
        'use --vendor-route sdk',
      );
    return {
      route: 'native',
      reason: support.differs
        ? `asked for the native route (differs: ${support.differs})`
        : 'asked for the native route',
    };
  }
  if (support.unsupported) return { route: 'sdk', reason: `auto: ${support.unsupported}` };
  if (support.differs) return { route: 'sdk', reason: `auto: the native image would differ (${support.differs})` };
  return { route: 'native', reason: 'auto: the native route makes the same image' };
}

export function scriptsTag(release: ResolvedRelease): string {
  return `${release.channel}-${release.version}`;
}

export function scriptsFileUrl(endpoints: Endpoints, release: ResolvedRelease, path: string): string {
  return endpoints.scriptsFileUrl.replaceAll('{tag}', scriptsTag(release)).replaceAll('{path}', path);
}

export function scriptsTarballUrl(endpoints: Endpoints, release: ResolvedRelease): string {
  return endpoints.scriptsTarballUrl.replaceAll('{tag}', scriptsTag(release));
}

/** The SDK image for an SDK version (docker tags cannot hold `+`). */
export function sdkImageName(endpoints: Endpoints, sdkVersion: string): string {
  return endpoints.sdkImage.replaceAll('{sdkVersion}', sdkVersion.replaceAll('+', '-'));
}

/** The release files (each with its .sig) a route needs for this format. */
export function releaseFilesFor(format: VendorFormat, release: ResolvedRelease, route: VendorRoute): string[] {
  const quirks = releaseQuirks(release.version);
  const payload = oemPayload(format, release.version);
  const oemRaw = payload?.sysext ? [`oem-${payload.spec.id}.raw`] : [];
  if (route === 'sdk') return ['version.txt', SYSEXT_SQUASHFS, ...(quirks.oemSysextPrebuilt ? oemRaw : [])];
  const firmware = format.extras.includes('qemu_uefi') ? Object.values(qemuFirmwareNames(format, release.version)) : [];
  return [...oemRaw, ...firmware];
}

/** Release files the native route can do without: the qemu_uefi firmware, for which the host's OVMF stands in. */
export function filesWithFallback(vendor: string, release: ResolvedRelease): string[] {
  if (!isVendorId(vendor)) return [];
  const format = vendorFormat(vendor, release.version);
  return format.extras.includes('qemu_uefi') ? Object.values(qemuFirmwareNames(format, release.version)) : [];
}

export function templatesFor(format: VendorFormat): string[] {
  return [
    ...(format.extras.includes('qemu_uefi') ? [QEMU_TEMPLATE] : []),
    ...(format.extras.includes('ova') ? [OVF_TEMPLATE] : []),
  ];
}

function qemuImgStep(disk: DiskFormatSpec): string {
  const { format, compressed, options } = disk.qemuImg!;
  const resize = disk.resizeGiB === undefined ? '' : `, then qemu-img resize to ${disk.resizeGiB}G`;
  return `qemu-img convert -O ${format}${compressed ? ' -c' : ''} -o ${options.join(',')}${resize}`;
}

const WRITE_STEPS: Record<NativeWriter, (disk: DiskFormatSpec) => string> = {
  move: () => 'keep the raw disk',
  'qemu-img': qemuImgStep,
  'vhd-footer': (disk) => `append the fixed-VHD footer that ${qemuImgStep(disk)} writes`,
};

function nativeSteps(format: VendorFormat, release: ResolvedRelease, layout: LayoutName): string[] {
  const payload = oemPayload(format, release.version);
  const disk = DISK_FORMATS[format.disk];
  return [
    `grow the image to the '${layout}' layout (GPT, ROOT ext4)`,
    ...(payload
      ? [
          `write /oem: ${payload.sysext ? `sysext/oem-${payload.spec.id}-${release.version}.raw, sysext/active-oem-${payload.spec.id}, ` : ''}oem-release, grub.cfg (oem_id=${payload.spec.grubOemId})`,
        ]
      : []),
    WRITE_STEPS[nativeWriter(format.disk)](disk),
    ...format.extras.map((extra) => `write the ${extra} files`),
  ];
}

/** What the tarball must match, as the run will check it. */
function tarballCheck(tag: string, trust: ScriptsTrust): string {
  const pinned = SCRIPTS_TAG_TREES[tag];
  if (trust.sha256) return `sha256 ${trust.sha256} (--scripts-sha256)`;
  if (trust.tree) return `holding git tree ${trust.tree}`;
  if (pinned) return `holding git tree ${pinned} (pinned)`;
  return trust.insecure
    ? 'unverified (--insecure-scripts)'
    : 'no pinned git tree: refused without --scripts-sha256 or --insecure-scripts';
}

function sdkSteps(
  format: VendorFormat,
  release: VendorRelease,
  endpoints: Endpoints,
  compression: Compression[],
  trust: ScriptsTrust,
): string[] {
  const sdkImage = sdkImageName(endpoints, release.sdkVersion ?? '{FLATCAR_SDK_VERSION from version.txt}');
  return [
    `fetch flatcar/scripts at ${scriptsTag(release)}, ${tarballCheck(scriptsTag(release), trust)}`,
    `pull ${sdkImage} unless present`,
    `run image_to_vm.sh --format=${format.name} --board=${release.board} --getbinpkg --image_compression_formats=${compression.join(',')} in the SDK container`,
  ];
}

export function planVendor(input: PlanInput, endpoints: Endpoints): VendorPlan {
  const format = requireFormat(input.vendor, input.release);
  const compression = parseCompression(input.compression, format);
  const { route, reason } = chooseRoute(format, input.release.version, input.route);
  const releaseFiles = releaseFilesFor(format, input.release, route).map((file) => `${input.release.baseUrl}/${file}`);
  const downloads =
    route === 'sdk'
      ? [scriptsTarballUrl(endpoints, input.release), ...releaseFiles]
      : [...releaseFiles, ...templatesFor(format).map((path) => scriptsFileUrl(endpoints, input.release, path))];
  const steps =
    route === 'sdk'
      ? sdkSteps(format, input.release, endpoints, compression, input.scripts ?? PINNED_ONLY)
      : nativeSteps(format, input.release, input.diskLayout ?? format.layout);
  const outputs = vendorOutputNames(format, input.release.version, input.release.arch, compression).map(
    (name) => `${input.outputDir}/${name}`,
  );
  return {
    route,
    reason,
    compression,
    outputs,
    downloads,
    steps: [...steps, `compress: ${compression.join(',')}`, `publish into ${input.outputDir}`],
  };
}
