/**
 * Several vendors in one bake, planned: `--dry-run --json` lists every vendor's plan (route, downloads,
 * outputs) in the order given, and the text plan has a line per vendor.
 */

import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { test } from 'node:test';
import { formatPlan, planJson } from '../../bake/commands/bake-output.ts';
import { resolveEndpoints } from '../../bake/core/endpoints.ts';
import { parseBakeRequest, planBake } from '../../bake/pipeline/plan.ts';

const RELEASE = {
  version: '4790.0.0',
  channel: 'alpha' as const,
  arch: 'x86-64' as const,
  board: 'amd64-usr',
  baseUrl: 'https://alpha.release.flatcar-linux.net/amd64-usr/4790.0.0',
};
const CONTEXT = { endpoints: resolveEndpoints({}, {}), cacheDir: '/cache' };

test('--dry-run --json lists the plan of every vendor, in the order given', () => {
  const request = parseBakeRequest(['a:a.raw'], {
    vendor: ['azure,gce', 'qemu_uefi'],
    release: '4790.0.0',
    output: '/out',
  });
  const json = planJson(planBake(request, RELEASE, CONTEXT));
  assert.deepEqual(
    json.vendors.map((v) => [v.vendor, v.route, v.outputs.map((o) => basename(o))]),
    [
      ['azure', 'native', ['flatcar_production_azure_image.vhd.bz2']],
      ['gce', 'native', ['flatcar_production_gce.tar.gz']],
      [
        'qemu_uefi',
        'sdk',
        [
          'flatcar_production_qemu_uefi_image.img',
          'flatcar_production_qemu_uefi_image.img.bz2',
          'flatcar_production_qemu_uefi.sh',
          'flatcar_production_qemu_uefi.README',
          'flatcar_production_qemu_uefi_efi_code.qcow2',
          'flatcar_production_qemu_uefi_efi_code.qcow2.bz2',
          'flatcar_production_qemu_uefi_efi_vars.qcow2',
          'flatcar_production_qemu_uefi_efi_vars.qcow2.bz2',
          'flatcar_production_qemu_image.img',
          'flatcar_production_qemu_image.img.bz2',
          'flatcar_production_qemu.sh',
        ],
      ],
    ],
  );
  assert.ok(json.vendors.every((v) => v.outputs.every((o) => o.startsWith('/out/'))));
  assert.deepEqual(json.vendors[0]!.downloads, [`${RELEASE.baseUrl}/oem-azure.raw`]);
  const text = formatPlan(planBake(request, RELEASE, CONTEXT));
  assert.deepEqual(
    text
      .split('\n')
      .filter((line) => line.startsWith('vendor:'))
      .map((line) => line.split(' (')[0]),
    ['vendor:    azure', 'vendor:    gce', 'vendor:    qemu_uefi'],
  );
});

test('without --vendor the plan has no vendor, and the text plan says generic', () => {
  const plan = planBake(parseBakeRequest(['a:a.raw'], {}), RELEASE, CONTEXT);
  assert.deepEqual(planJson(plan).vendors, []);
  assert.match(formatPlan(plan), /^vendor: {4}generic$/m);
});
