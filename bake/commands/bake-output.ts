/** What `bake` prints: the plan for --dry-run and the summary table, as text or JSON. */

import { humanBytes, humanDuration } from '../core/units.ts';
import type { BakeResult } from '../pipeline/bake.ts';
import type { BakePlan } from '../pipeline/plan.ts';
import { policyPreview, type TrustPlan } from '../pipeline/trust.ts';
import { formatTable } from './table.ts';

export function planJson(plan: BakePlan) {
  const { release } = plan;
  return {
    ok: true,
    dryRun: true,
    release: {
      version: release.version,
      channel: release.channel,
      board: release.board,
      arch: release.arch,
      url: release.baseUrl,
    },
    releasesJson: plan.releasesJson,
    signingKey: plan.signingKey,
    vendors: plan.vendors,
    downloads: plan.downloads,
    baseImage: plan.baseImage,
    output: plan.output,
    sysexts: plan.sysexts.map(({ spec, downloads, checks, placement }) => ({
      ...spec,
      downloads,
      checks,
      ...placement,
    })),
    ...(plan.trust ? { trust: trustJson(plan.trust) } : {}),
  };
}

/** The certificates (never their text) and, with --require-signed-sysexts, the policy and where it may go. */
function trustJson(trust: TrustPlan) {
  return {
    certificates: trust.certificates.map(({ from, path, fingerprint, notAfter }) => ({
      from,
      path,
      fingerprint,
      notAfter,
    })),
    requireSigned: trust.requireSigned,
    ...(trust.requireSigned ? { policy: policyPreview() } : {}),
  };
}

/** Rows of the plan's "writes in the image" table for the trust flags. */
function trustRows(trust: TrustPlan | undefined): string[][] {
  if (!trust) return [];
  const certs = trust.certificates.map(({ from, path }) => ['ROOT', path, from]);
  if (!trust.requireSigned) return certs;
  const { policy, files, confSince } = policyPreview();
  // Which file depends on the release's systemd, read from its USR during the run.
  return [...certs, ['ROOT', `${files[0]} (systemd < ${confSince}) or ${files[1]}`, `image policy ${policy}`]];
}

export function formatPlan(plan: BakePlan): string {
  const { release } = plan;
  const lines = [
    `release:   ${release.version} (channel ${release.channel}, board ${release.board})`,
    `releases:  ${plan.releasesJson}`,
    `key:       ${plan.signingKey}`,
    'downloads:',
    ...plan.downloads.map(({ url, to }) => `  ${url}\n    → ${to}`),
    ...plan.sysexts.flatMap(({ checks }) =>
      checks.map(({ url, checkedBy }) => `  ${url}\n    checked by ${checkedBy}`),
    ),
    ...(plan.vendors.length === 0 ? ['vendor:    generic'] : []),
    ...plan.vendors.flatMap((vendor) => [
      `vendor:    ${vendor.vendor} (${vendor.route} route: ${vendor.reason})`,
      ...vendor.downloads.map((url) => `  ${url}`),
      ...vendor.outputs.map((name) => `  → ${name}`),
    ]),
    `output:    ${plan.output}`,
    'writes in the image:',
    formatTable([
      ['partition', 'path', 'from'],
      ...plan.sysexts.flatMap(({ spec, placement }) => [
        [
          placement.partition.toUpperCase(),
          placement.pathInPartition,
          'file' in spec ? spec.file : `${spec.name}@${spec.version}`,
        ],
        ...placement.symlinks.map((link) => ['ROOT', link, `→ ${placement.osPath}`]),
        ...(placement.confPath ? [['ROOT', placement.confPath, `${spec.name}.conf`]] : []),
      ]),
      ...trustRows(plan.trust),
    ]).replace(/^/gm, '  '),
  ];
  return `${lines.join('\n')}\n`;
}

export function resultJson(result: BakeResult, facts: RunFacts) {
  return {
    ok: true,
    outputs: result.outputs,
    outputBytes: facts.outputBytes,
    elapsedMs: facts.elapsedMs,
    release: {
      version: result.plan.release.version,
      channel: result.plan.release.channel,
      board: result.plan.release.board,
    },
    ...(result.grownBy ? { rootGrownBytes: result.grownBy } : {}),
    ...(result.smokeReport ? { smokeTest: result.smokeReport } : {}),
    ...(result.trust ? { trust: result.trust } : {}),
    installed: result.sysexts.map(({ spec, placement, info, checks }) => ({
      name: spec.name,
      source: spec.source,
      format: info.format,
      partition: placement.partition,
      path: placement.osPath,
      symlinks: placement.symlinks,
      ...(placement.confPath ? { conf: placement.confPath } : {}),
      ...(checks ? { checks } : {}),
    })),
  };
}

/** What the run measured that the result does not hold: how long it took and how large each output is. */
export interface RunFacts {
  elapsedMs: number;
  outputBytes: number[];
}

export function formatSummary(result: BakeResult, facts: RunFacts): string {
  const { release } = result.plan;
  const rows = [
    ['sysext', 'partition', 'path in the booted OS', 'symlink', 'sysupdate conf'],
    ...result.sysexts.map(({ spec, placement }) => [
      spec.name,
      placement.partition.toUpperCase(),
      placement.osPath,
      placement.symlinks.join(', '),
      placement.confPath ?? '-',
    ]),
  ];
  const outputs = result.outputs.map((output, index) => `${output} (${humanBytes(facts.outputBytes[index] ?? 0)})`);
  const story = `Flatcar ${release.version} (${release.channel}, ${release.board}) baked in ${humanDuration(facts.elapsedMs)}`;
  return `\n${story}\n${outputs.join('\n')}\n\n${formatTable(rows)}\n`;
}
