/**
 * The SDK vendor route on real podman (runc), with a locally built STAND-IN for the Flatcar SDK image
 * and a stand-in flatcar/scripts tarball (test/support/fixtures/sdk-standin.ts). The full container command
 * lines are compared with golden files; failures must leave no container and no files behind.
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import { execa } from 'execa';
import { isBakeError } from '../../bake/core/errors.ts';
import type { VendorJob } from '../../bake/vendor/index.ts';
import { buildSdkStandinImage, removeSdkStandinImage } from '../support/fixtures/sdk-standin.ts';
import { produceAsPlanned, type VendorFixture, vendorFixture } from '../support/vendor-fixture.ts';

const GOLDEN = resolve(import.meta.dirname, '../fixtures/golden');
const ERA_C = { version: '4790.0.0', channel: 'alpha' as const, sdkVersion: '4790.0.0', oems: ['azure', 'qemu'] };
const ERA_A = { version: '4593.2.5', channel: 'stable' as const, sdkVersion: '4593.0.0', oems: ['azure'] };
const SLOW = {
  version: '4081.3.10',
  channel: 'lts' as const,
  sdkVersion: '4081.0.0',
  oems: [],
  scriptsSleepSeconds: 60,
};
const FAILING = {
  version: '4757.1.0',
  channel: 'beta' as const,
  sdkVersion: '4757.0.0',
  oems: ['azure'],
  scriptsFailWith: 'STANDIN emerge failed: no binary package',
};

let fx: VendorFixture;
const releases: Array<() => unknown> = [];
const images: string[] = [];

before(async () => {
  fx = await vendorFixture({ after: (fn) => releases.push(fn) }, [ERA_C, ERA_A, FAILING, SLOW]);
  for (const spec of [ERA_C, ERA_A, FAILING, SLOW]) images.push(await buildSdkStandinImage(spec.sdkVersion));
});

after(async () => {
  for (const image of images) await removeSdkStandinImage(image);
  for (const release of releases) await release();
});

async function bakeContainers(): Promise<string[]> {
  const { stdout } = await execa('podman', ['ps', '--all', '--format', '{{.Names}}']);
  return stdout.split('\n').filter((name) => name.startsWith('bake-sdk-'));
}

async function job(
  t: TestContext,
  version: string,
  vendor: string,
  more: Partial<VendorJob> = {},
): Promise<VendorJob & { dir: string }> {
  const dir = await mkdtemp(join(fx.scratch, `sdk-${vendor}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'out'));
  const image = await fx.disk(dir, version);
  return {
    dir,
    vendor,
    route: 'sdk',
    release: fx.releases.get(version)!,
    image,
    workDir: dir,
    outputDir: join(dir, 'out'),
    containerRuntime: 'podman',
    scripts: fx.scriptsTrust('sdk', version),
    ...more,
  };
}

/** Every container command bake ran, with the run's temp paths and the random container name normalised. */
function containerCommands(lines: string[], scriptsDir: string): string {
  return lines
    .filter((line) => line.startsWith('+ podman ') && !line.startsWith('+ podman image exists'))
    .map((line) =>
      line
        .slice(2)
        .replaceAll(scriptsDir, '<SCRIPTS>')
        .replace(/bake-sdk-([a-z_]+)-[0-9a-f]{8}/g, 'bake-sdk-$1-<ID>'),
    )
    .join('\n')
    .concat('\n');
}

async function assertGolden(name: string, actual: string): Promise<void> {
  const path = join(GOLDEN, name);
  if (process.env.BAKE_UPDATE_GOLDEN === '1') await writeFile(path, actual);
  assert.equal(actual, await readFile(path, 'utf8'), `${name} (BAKE_UPDATE_GOLDEN=1 rewrites it)`);
}

test('Era C azure: run_sdk_container command lines, oem-azure.raw fetched, outputs published, container removed', async (t) => {
  const j = await job(t, ERA_C.version, 'azure', { compression: ['bz2', 'none'] });
  const ctx = fx.context();
  const outputs = await produceAsPlanned(ctx, j);
  assert.deepEqual(
    outputs.map((o) => basename(o)),
    ['flatcar_production_azure_image.vhd', 'flatcar_production_azure_image.vhd.bz2'],
  );
  assert.match(await readFile(outputs[0]!, 'utf8'), /^STANDIN disk for azure from FLATCAR_VERSION=4790\.0\.0$/m);
  const sdk = ctx.lines.filter((line) => line.startsWith('+ sdk: STANDIN'));
  assert.ok(
    sdk.includes(
      '+ sdk: STANDIN image_to_vm.sh --from=./ --to=./ --board=amd64-usr --getbinpkg --format=azure --image_compression_formats=bz2,none',
    ),
    sdk.join('\n'),
  );
  assert.ok(sdk.includes('+ sdk: STANDIN env COREOS_OFFICIAL=1 PWD=/mnt/host/source/src/scripts'), sdk.join('\n'));
  assert.ok(sdk.some((line) => /SDK_USER_ID=0 SDK_GROUP_ID=0/.test(line)));
  assert.ok(sdk.includes('+ sdk: STANDIN versionfile FLATCAR_VERSION=4790.0.0 FLATCAR_SDK_VERSION=4790.0.0'));
  assert.ok(
    fx.mirror.requests.some((r) => r.path === '/alpha/amd64-usr/4790.0.0/oem-azure.raw' && r.status === 200),
    'Era C needs the prebuilt OEM sysext',
  );
  await assertGolden('sdk-podman-azure-4790.0.0.txt', containerCommands(ctx.lines, join(j.dir, 'sdk-azure')));
  assert.deepEqual(await bakeContainers(), []);
  assert.deepEqual(await readdir(j.dir), ['out'], 'the checkout and the moved image are gone');
});

test('Era A: no oem-<id>.raw download, no --tmpfs, only the compressed file without none', async (t) => {
  const j = await job(t, ERA_A.version, 'azure', { compression: ['bz2'] });
  const ctx = fx.context();
  const before = fx.mirror.requests.length;
  const outputs = await produceAsPlanned(ctx, j);
  assert.deepEqual(
    outputs.map((o) => basename(o)),
    ['flatcar_production_azure_image.vhd.bz2'],
  );
  assert.ok(
    !fx.mirror.requests.slice(before).some((r) => r.path.includes('oem-')),
    'Era A builds the OEM sysext in the SDK',
  );
  await assertGolden('sdk-podman-azure-4593.2.5.txt', containerCommands(ctx.lines, join(j.dir, 'sdk-azure')));
  assert.deepEqual(await bakeContainers(), []);
});

test('image_to_vm failing in the container: one-line tool error, container removed, nothing left', async (t) => {
  const j = await job(t, FAILING.version, 'azure');
  const ctx = fx.context();
  await assert.rejects(produceAsPlanned(ctx, j), (error: unknown) => {
    assert.ok(isBakeError(error) && error.kind === 'tool', String(error));
    assert.match(
      error.message,
      /image_to_vm\.sh failed in the SDK container: \(exit 1\): STANDIN emerge failed: no binary package/,
    );
    return true;
  });
  assert.deepEqual(await bakeContainers(), []);
  assert.deepEqual(await readdir(j.dir), ['out']);
  assert.deepEqual(await readdir(join(j.dir, 'out')), []);
});

test('no container runtime on PATH: a tool error before anything is downloaded or moved', async (t) => {
  const j = await job(t, ERA_C.version, 'azure', { containerRuntime: 'auto' });
  const ctx = fx.context();
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    await assert.rejects(
      produceAsPlanned(ctx, j),
      (error: unknown) =>
        isBakeError(error) &&
        error.kind === 'tool' &&
        /no container runtime found: podman or docker/.test(error.message),
    );
  } finally {
    process.env.PATH = saved;
  }
  assert.deepEqual((await readdir(j.dir)).sort(), ['flatcar_production_image.bin', 'out']);
});

test('an OEM sysext missing on the server (Era C): network error, no container created', async (t) => {
  const j = await job(t, ERA_C.version, 'hetzner');
  const ctx = fx.context();
  await assert.rejects(
    produceAsPlanned(ctx, j),
    (error: unknown) => isBakeError(error) && error.kind === 'network' && /oem-hetzner\.raw/.test(error.message),
  );
  assert.ok(!ctx.lines.some((line) => line.startsWith('+ podman create')));
  assert.deepEqual(await bakeContainers(), []);
  assert.deepEqual(await readdir(join(j.dir, 'out')), []);
});

test('a format that does not exist in the release: usage error naming why', async (t) => {
  const j = await job(t, ERA_A.version, 'oraclecloud');
  await assert.rejects(
    produceAsPlanned(fx.context(), j),
    (error: unknown) =>
      isBakeError(error) && error.kind === 'usage' && /does not exist in Flatcar 4593\.2\.5/.test(error.message),
  );
});

test('Ctrl-C while image_to_vm runs: interrupted, the container is removed and nothing is left', async (t) => {
  const j = await job(t, SLOW.version, 'azure');
  const controller = new AbortController();
  const ctx = fx.context(controller.signal);
  const running = produceAsPlanned(ctx, j);
  const deadline = Date.now() + 30_000;
  while (!ctx.lines.some((line) => line.startsWith('+ podman exec -i')) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 500));
  const started = Date.now();
  controller.abort();
  await assert.rejects(running, (error: unknown) => isBakeError(error) && error.kind === 'interrupted');
  assert.ok(Date.now() - started < 20_000, 'stopped well before the 60 s stand-in run');
  assert.deepEqual(await bakeContainers(), []);
  assert.deepEqual(await readdir(j.dir), ['out']);
});
