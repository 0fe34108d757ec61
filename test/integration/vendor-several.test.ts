/**
 * Several vendor images from one baked image, on real tools against the 127.0.0.1 release mirror of
 * test/support/vendor-fixture.ts: native vendors made side by side from their own copies, a vendor that
 * fails (its OEM sysext is missing from the mirror) leaving the others' outputs, and one error naming it;
 * then the same through the CLI: one bake, the generic image and the finished vendor images published.
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, test } from 'node:test';
import { hashFile } from '../../bake/core/checksums.ts';
import { produceVendorImages, vendorPlans, vendorsFailedError } from '../../bake/vendor/several.ts';
import { assertNothingLeft, assertOneLineError, runBake, workspace } from '../support/bake-cli.ts';
import { signDetached } from '../support/fixtures/gpg.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror } from '../support/fixtures.ts';
import { vendorFixture } from '../support/vendor-fixture.ts';
import { qemuInfo } from '../support/vendor-judge.ts';

const VERSION = '4790.0.0';
const releases: Array<() => unknown> = [];
after(async () => {
  for (const release of releases) await release();
});

test('azure, gce and hetzner come from one image; kubevirt, whose OEM sysext is missing, fails alone', async (t) => {
  const fx = await vendorFixture({ after: (fn) => releases.push(fn) }, [
    { version: VERSION, channel: 'alpha', sdkVersion: VERSION, oems: ['azure', 'gce', 'hetzner'] },
  ]);
  const dir = await mkdtemp(join(fx.scratch, 'several-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [workDir, stageDir] = [join(dir, 'work'), join(dir, 'stage')];
  await Promise.all([mkdir(workDir), mkdir(stageDir)]);
  const image = await fx.disk(dir, VERSION);
  const before = await hashFile(image, 'sha256');
  const ctx = fx.context();
  const reports: string[] = [];

  const job = {
    vendors: ['azure', 'kubevirt', 'gce', 'hetzner'],
    route: 'native' as const,
    release: fx.releases.get(VERSION)!,
    image,
    workDir,
    stageDir,
    compression: ['none'],
  };
  const plans = vendorPlans({ ...job, outputDir: stageDir }, ctx.endpoints);
  const outcomes = await produceVendorImages(ctx, job, plans, (line) => reports.push(line));

  assert.deepEqual(
    outcomes.map((o) => [o.vendor, o.files?.map((f) => basename(f)) ?? 'failed']),
    [
      ['azure', ['flatcar_production_azure_image.vhd']],
      ['kubevirt', 'failed'],
      ['gce', ['flatcar_production_gce.tar.gz']],
      ['hetzner', ['flatcar_production_hetzner_image.bin']],
    ],
  );
  assert.equal(await hashFile(image, 'sha256'), before, 'the generic image is only read');
  assert.equal((await qemuInfo(outcomes[0]!.files![0]!, 'vpc'))['virtual-size'] % 2 ** 20, 0);
  assert.deepEqual(await readdir(workDir), [], "every vendor's copy and stage is gone");
  assert.equal(reports.at(-1), '4 of 4 vendor images done (some failed)');
  assert.ok(
    ctx.lines.some((line) => /^warning: vendor kubevirt failed: /.test(line)),
    ctx.lines.join('\n'),
  );

  const error = vendorsFailedError(outcomes, ['generic', 'azure', 'gce', 'hetzner']);
  assert.equal(error?.kind, 'network', 'the kind of the failure: a missing file on the mirror');
  assert.match(error!.message, /^1 of 4 vendor images failed: kubevirt \(.*oem-kubevirt\.raw.*\)$/);
  assert.equal(error!.hint, 'published 4 file(s): the generic image and azure, gce, hetzner');
  assert.equal(
    vendorsFailedError(
      outcomes.filter((o) => o.files),
      [],
    ),
    undefined,
  );
});

test('bake --vendor azure,hetzner --vendor kubevirt: one bake publishes generic, azure and hetzner, then fails naming kubevirt', async (t) => {
  const fx = await withReleaseMirror(t, { releases: [{ version: VERSION, channel: 'alpha', arches: ['amd64'] }] });
  const releaseDir = join(fx.manifest.root, 'alpha/amd64-usr', VERSION);
  for (const id of ['azure', 'hetzner']) {
    const oem = await makeSysextImage(join(releaseDir, `oem-${id}.raw`), {
      name: `oem-${id}`,
      arch: 'x86-64',
      id: 'flatcar',
      files: { 'usr/share/oem/marker': `${id}\n` },
    });
    await signDetached(fx.key, oem.path);
  }
  const ws = await workspace(t, fx.env);
  await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
  const common = [
    '--release',
    'alpha',
    '--vendor',
    'azure,hetzner',
    '--vendor',
    'kubevirt',
    '--vendor-route',
    'native',
    '--compression',
    'none',
    '--output',
    'out',
    'hello:hello.raw',
  ];

  const dryRun = await runBake(ws, ['--dry-run', '--json', ...common]);
  assert.equal(dryRun.exitCode, 0, dryRun.stderr);
  const plans = JSON.parse(dryRun.stdout).vendors as Array<{ vendor: string; route: string; outputs: string[] }>;
  assert.deepEqual(
    plans.map((p) => [p.vendor, p.route, p.outputs.map((o) => basename(o))]),
    [
      ['azure', 'native', ['flatcar_production_azure_image.vhd']],
      ['hetzner', 'native', ['flatcar_production_hetzner_image.bin']],
      ['kubevirt', 'native', ['flatcar_production_kubevirt_image.qcow2']],
    ],
  );

  const run = await runBake(ws, common);
  assert.equal(run.exitCode, 5, run.stderr);
  assertOneLineError(
    run,
    /^bake: 1 of 3 vendor images failed: kubevirt \(.*\): published 3 file\(s\): the generic image and azure, hetzner$/,
  );
  assert.equal(
    fx.mirror.requests.filter((r) => r.path.endsWith('flatcar_production_image.bin.bz2')).length,
    1,
    'one download for every vendor',
  );
  await assertNothingLeft(ws, [
    'flatcar_production_image.bin',
    'flatcar_production_azure_image.vhd',
    'flatcar_production_hetzner_image.bin',
  ]);
});
