/**
 * `bake vendors [--release R] [--arch A] [--json] [--check]`: the vendor table, for one release when given —
 * which formats exist, their disk format, layout, OEM, compressions, output names and the route `auto`
 * picks. `--check` compares the table with the release's own vm_image_util.sh instead.
 */
import { Command } from 'commander';
import { describeSince, eraName } from '../../vendors/eras.ts';
import {
  type Availability,
  formatArches,
  formatsFor,
  oemPayload,
  VENDOR_TABLE,
  type VendorFormat,
} from '../../vendors/formats.ts';
import { vendorOutputNames } from '../../vendors/outputs.ts';
import { addCommonOptions, type CommonOptions, contextFromOptions } from '../cli-context.ts';
import { type Arch, parseArch } from '../core/arch.ts';
import { usageError, verifyError } from '../core/errors.ts';
import { parseReleaseRequest, resolveRelease } from '../flatcar/release.ts';
import { chooseRoute } from '../vendor/plan.ts';
import { checkAgainstScripts } from '../vendor/scripts-check.ts';
import { parseScriptsTrust } from '../vendor/scripts-trust.ts';
import { formatTable } from './table.ts';

interface VendorsFlags extends CommonOptions {
  release?: string;
  arch: string;
  check?: boolean;
  scriptsSha256?: string;
}

export interface VendorRow {
  format: string;
  disk: string;
  layout: string;
  oem?: string;
  grubOemId?: string;
  oemSysext?: boolean;
  compression: string[];
  arches: string[];
  available: string;
  outputs?: string[];
  autoRoute?: string;
  autoReason?: string;
}

function describeAvailability({ since, until }: Availability): string {
  const from = describeSince(since);
  if (!until) return from === 'always' ? from : `from ${from}`;
  return from === 'always' ? `before ${describeSince(until)}` : `from ${from}; before ${describeSince(until)}`;
}

export function vendorRow(format: VendorFormat, release?: { version: string; arch: Arch }): VendorRow {
  const row: VendorRow = {
    format: format.name,
    disk: format.disk,
    layout: format.layout,
    ...(format.oem ? { oem: format.oem } : {}),
    compression: [...format.compression],
    arches: [...formatArches(format)],
    available: describeAvailability(format.available),
  };
  if (!release) return row;
  const payload = oemPayload(format, release.version);
  const auto = chooseRoute(format, release.version, 'auto');
  return {
    ...row,
    ...(payload ? { grubOemId: payload.spec.grubOemId, oemSysext: payload.sysext } : {}),
    outputs: vendorOutputNames(format, release.version, release.arch, format.compression),
    autoRoute: auto.route,
    autoReason: auto.reason,
  };
}

function printTable(rows: VendorRow[], heading: string): void {
  const lines = [heading, ''];
  const columns: Array<[string, (row: VendorRow) => string]> = [
    ['FORMAT', (r) => r.format],
    ['DISK', (r) => r.disk],
    ['LAYOUT', (r) => r.layout],
    [
      'OEM',
      (r) =>
        r.oem
          ? `${r.oem}${r.grubOemId && r.grubOemId !== r.oem ? ` (oem_id ${r.grubOemId})` : ''}${r.oemSysext === false ? ' [package]' : ''}`
          : '-',
    ],
    ['COMPRESSION', (r) => r.compression.join(',')],
    ['ARCHES', (r) => r.arches.join(',')],
    [rows[0]?.autoRoute ? 'AUTO ROUTE' : 'AVAILABLE', (r) => r.autoRoute ?? r.available],
  ];
  lines.push(
    formatTable([columns.map(([title]) => title), ...rows.map((row) => columns.map(([, cell]) => cell(row)))]),
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** --check: the table against the release's vm_image_util.sh; any difference is a verify error listing them. */
async function checkRelease(flags: VendorsFlags, arch: Arch): Promise<void> {
  if (!flags.release)
    throw usageError(
      '--check needs --release',
      'name the release whose flatcar/scripts to compare with, e.g. --release 4593.2.5',
    );
  const ctx = contextFromOptions(flags);
  const release = await resolveRelease(ctx, parseReleaseRequest(flags.release), arch);
  const check = await checkAgainstScripts(
    ctx,
    release,
    parseScriptsTrust({ ...(flags.scriptsSha256 ? { scriptsSha256: flags.scriptsSha256 } : {}) }),
  );
  if (check.differences.length > 0) {
    throw verifyError(
      `the vendor table differs from flatcar/scripts ${check.tag}: ${check.differences.join('; ')}`,
      'correct vendors/formats.ts (or report it)',
    );
  }
  if (flags.json)
    process.stdout.write(
      `${JSON.stringify({ ok: true, release: { version: release.version, channel: release.channel }, check }, null, 2)}\n`,
    );
  else process.stdout.write(`the vendor table matches flatcar/scripts ${check.tag} (${check.formats} formats)\n`);
}

export function command(): Command {
  const program = new Command('vendors')
    .description('list the vendor formats (image_to_vm.sh) of a release')
    .option('--release <release>', 'a version (MMMM.m.p) or channel; without it, every format ever known')
    .option('--arch <arch>', 'x86-64 or arm64', 'x86-64')
    .option('--check', "compare the table with the release's flatcar/scripts vm_image_util.sh")
    .option('--scripts-sha256 <sha256>', "with --check: the scripts tarball's SHA-256, instead of its pinned git tree");
  addCommonOptions(program, { dryRun: false, endpoints: ['releasesJson', 'releaseUrl', 'scriptsTarballUrl'] });
  program.action(async (flags: VendorsFlags) => {
    const arch = parseArch(flags.arch);
    if (flags.check) return checkRelease(flags, arch);
    let release: { version: string; arch: Arch } | undefined;
    if (flags.release) {
      const request = parseReleaseRequest(flags.release);
      release =
        'version' in request
          ? { version: request.version, arch }
          : await resolveRelease(contextFromOptions(flags), request, arch);
    }
    const formats = release ? formatsFor(release.version, arch) : [...VENDOR_TABLE];
    const rows = formats.map((format) => vendorRow(format, release));
    if (flags.json) {
      process.stdout.write(
        `${JSON.stringify({ ok: true, ...(release ? { release: { ...release, era: eraName(release.version) } } : {}), vendors: rows }, null, 2)}\n`,
      );
      return;
    }
    const heading = release
      ? `Vendor formats of Flatcar ${release.version} (${arch}, era ${eraName(release.version)})`
      : 'Vendor formats (all releases)';
    printTable(rows, heading);
  });
  return program;
}
