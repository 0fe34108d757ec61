/**
 * The plan of every vendor format × arch for a release of each era of flatcar/scripts, recorded in
 * test/fixtures/golden/vendors/<version>.json and compared on every run (UPDATE_GOLDEN=1 re-records;
 * review the diff). The releases straddle every release-dependent rule of the table: proxmoxve (4152),
 * stackit's backport (stable 4230.2.1, beta 4344.1.1, alpha 4372.0.1), nutanix (beta 4459.1.1, alpha
 * 4515), the hyperv sysext (4459), the qcow2 firmware (4152), the SDK's /tmp (4344, 4593), the vm layout
 * of akamai/ami (alpha 4487, beta 4515, stable 4593), the README's -display (4694) and exoscale (4722).
 */
import { test } from 'node:test';
import { createArgs } from '../../bake/core/container.ts';
import { resolveEndpoints } from '../../bake/core/endpoints.ts';
import { quoteForLog } from '../../bake/core/exec.ts';
import { planVendor, type VendorRelease } from '../../bake/vendor/plan.ts';
import { sdkContainerSpec, sdkTmpOf } from '../../bake/vendor/sdk.ts';
import { channelOfVersion, eraName, releaseQuirks } from '../../vendors/eras.ts';
import { oemPayload, VENDOR_TABLE, type VendorId, vendorFormat, vendorProblem } from '../../vendors/formats.ts';
import { assertGolden } from '../support/golden.ts';

const RELEASES = [
  '4081.3.10',
  '4116.0.0',
  '4116.1.0',
  '4152.2.3',
  '4230.2.0',
  '4230.2.1',
  '4344.1.0',
  '4344.1.1',
  '4372.0.0',
  '4372.0.1',
  '4459.1.0',
  '4459.1.1',
  '4459.2.4',
  '4487.0.0',
  '4515.0.0',
  '4515.1.0',
  '4593.2.5',
  '4628.1.0',
  '4694.0.0',
  '4722.0.0',
  '4790.0.0',
];
const ARCHES = ['x86-64', 'arm64'] as const;
/** The real defaults, whatever the environment of the test run says. */
const ENDPOINTS = resolveEndpoints({}, {});

function release(version: string, arch: (typeof ARCHES)[number]): VendorRelease {
  const channel = channelOfVersion(version);
  const board = arch === 'x86-64' ? 'amd64-usr' : 'arm64-usr';
  return { version, channel, arch, board, baseUrl: `https://${channel}.release.flatcar-linux.net/${board}/${version}` };
}

const fileName = (path: string) => path.split('/').pop()!;

/** The native route's steps, or why it cannot make the format in this release. */
function nativeSteps(name: string, target: VendorRelease): string[] | string {
  try {
    const steps = planVendor({ vendor: name, route: 'native', release: target, outputDir: '/out' }, ENDPOINTS).steps;
    return steps.slice(0, -2); // compression and publishing are in `compression` and `outputs`
  } catch (error) {
    return (error as Error).message;
  }
}

/** One format in one release and arch: its row as that release has it, the auto plan, the native steps. */
function formatPlan(name: VendorId, target: VendorRelease): object {
  const problem = vendorProblem(name, target.version, target.arch);
  if (problem) return { problem };
  const row = vendorFormat(name, target.version);
  const payload = oemPayload(row, target.version);
  const plan = planVendor({ vendor: name, route: 'auto', release: target, outputDir: '/out' }, ENDPOINTS);
  return {
    disk: row.disk,
    layout: row.layout,
    oem: payload ? `${payload.spec.id} (${payload.sysext ? 'sysext' : 'package'})` : null,
    compression: row.compression,
    outputs: plan.outputs.map(fileName),
    auto: `${plan.route}: ${plan.reason}`,
    downloads: plan.downloads.map(fileName),
    native: nativeSteps(name, target),
  };
}

function sdkCreateLine(version: string): string {
  const spec = sdkContainerSpec({
    scriptsDir: '<SCRIPTS>',
    image: '<SDK>',
    name: 'bake-sdk-<FORMAT>',
    uid: 0,
    gid: 0,
    tmp: sdkTmpOf(version),
  });
  return quoteForLog(['podman', ...createArgs(spec)]);
}

/** JSON with one line per format, so a rule's change shows as the lines of the formats it touches. */
function releaseRecord(version: string): string {
  const head = {
    version,
    channel: channelOfVersion(version),
    era: eraName(version),
    quirks: releaseQuirks(version),
    sdkCreate: sdkCreateLine(version),
  };
  const lines = ARCHES.flatMap((arch) =>
    VENDOR_TABLE.map(
      (f) => `${JSON.stringify(`${arch} ${f.name}`)}: ${JSON.stringify(formatPlan(f.name, release(version, arch)))}`,
    ),
  );
  return `${JSON.stringify(head, null, 1).replace(/\n}$/, ',')}\n "formats": {\n  ${lines.join(',\n  ')}\n }\n}\n`;
}

for (const version of RELEASES) {
  test(`vendor plans of Flatcar ${version} equal golden/vendors/${version}.json`, async () => {
    const record = releaseRecord(version);
    JSON.parse(record);
    await assertGolden(`vendors/${version}.json`, record);
  });
}
