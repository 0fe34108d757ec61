/**
 * The flatcar/scripts files bake runs (the SDK route's tarball, the native route's qemu launcher) are
 * refused over plain HTTP and checked against their digest before tar or the output sees them, with a
 * hostile stand-in served by the 127.0.0.1 mirror; an unverified copy is never cached or reused.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File } from '../../bake/core/checksums.ts';
import { isBakeError, type ErrorKind } from '../../bake/core/errors.ts';
import { produceVendorImage } from '../../bake/vendor/index.ts';
import { fetchScriptsCheckout } from '../../bake/vendor/scripts-source.ts';
import { sha256Text, type ScriptsTrust } from '../../bake/vendor/scripts-trust.ts';
import { buildScriptsStandinTarball } from '../support/fixtures/sdk-standin.ts';
import { QEMU_TEMPLATE_STANDIN, vendorFixture, type VendorFixture } from '../support/vendor-fixture.ts';

const RELEASE = { version: '4790.0.0', channel: 'alpha' as const, sdkVersion: '4790.0.0', oems: ['qemu'], firmware: true };
const TAG = 'alpha-4790.0.0';
const HOSTILE_TEMPLATE = '#!/bin/sh\ncurl -s http://127.0.0.1:1/pwned\n';

let fx: VendorFixture;
const releases: Array<() => unknown> = [];
let tarballPath: string;
let hostileTarball: string;
let templatePath: string;

before(async () => {
  fx = await vendorFixture({ after: (fn) => releases.push(fn) }, [RELEASE]);
  tarballPath = join(fx.root, 'flatcar/scripts/archive', `${TAG}.tar.gz`);
  templatePath = join(fx.root, 'flatcar/scripts/raw', TAG, 'build_library/qemu_template.sh');
  hostileTarball = join(fx.scratch, 'hostile.tar.gz');
  await buildScriptsStandinTarball(hostileTarball, { tag: TAG, sdkVersion: RELEASE.sdkVersion, failWith: 'HOSTILE scripts ran' });
});

after(async () => {
  for (const release of releases) await release();
});

/** Serves the hostile tarball (or template) for the duration of one test. */
async function serveHostile(t: TestContext, path: string, write: () => Promise<void>): Promise<void> {
  const saved = join(fx.scratch, `saved-${Date.now()}`);
  await copyFile(path, saved);
  t.after(() => copyFile(saved, path));
  await write();
}

async function checkoutDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(fx.scratch, 'checkout-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const isKind = (kind: ErrorKind) => (error: unknown) => isBakeError(error) && error.kind === kind;
const archiveRequests = () => fx.mirror.requests.filter((r) => r.path.includes('/flatcar/scripts/archive/')).length;
const genuine = (): ScriptsTrust => fx.scriptsTrust('sdk', RELEASE.version);

test('tarball over plain HTTP without --insecure-scripts: usage error before anything is fetched', async (t) => {
  const ctx = fx.context();
  const dest = await checkoutDir(t);
  const before = archiveRequests();
  await assert.rejects(fetchScriptsCheckout(ctx, fx.releases.get(RELEASE.version)!, dest, { sha256: genuine().sha256!, insecure: false }), isKind('usage'));
  assert.equal(archiveRequests(), before);
  assert.deepEqual(await readdir(dest), []);
});

test('a tarball no digest vouches for (local mirror, no pin, no flag): verify error, nothing unpacked', async (t) => {
  const ctx = fx.context();
  ctx.endpoints.scriptsTarballUrl = `file://${fx.root}/flatcar/scripts/archive/{tag}.tar.gz`;
  const dest = await checkoutDir(t);
  await assert.rejects(fetchScriptsCheckout(ctx, fx.releases.get(RELEASE.version)!, dest, { insecure: false }), isKind('verify'));
  assert.deepEqual(await readdir(dest), []);
});

test('a hostile tarball under the pinned name: verify error, not unpacked, not cached', async (t) => {
  await serveHostile(t, tarballPath, () => copyFile(hostileTarball, tarballPath));
  const ctx = fx.context();
  const dest = await checkoutDir(t);
  await assert.rejects(fetchScriptsCheckout(ctx, fx.releases.get(RELEASE.version)!, dest, genuine()), isKind('verify'));
  assert.deepEqual(await readdir(dest), []);
  assert.deepEqual(await readdir(join(ctx.cacheDir, 'flatcar-scripts')).catch(() => []), []);
});

test('a cached tarball that no longer matches its digest is downloaded again, not reused', async (t) => {
  const ctx = fx.context();
  const release = fx.releases.get(RELEASE.version)!;
  await fetchScriptsCheckout(ctx, release, await checkoutDir(t), genuine());
  const cached = join(ctx.cacheDir, 'flatcar-scripts', `${TAG}.tar.gz`);
  await copyFile(hostileTarball, cached);
  const before = archiveRequests();
  const dest = await checkoutDir(t);
  await fetchScriptsCheckout(ctx, release, dest, genuine());
  assert.equal(archiveRequests(), before + 1, 'fetched afresh');
  assert.equal(await sha256File(cached), genuine().sha256);
  assert.doesNotMatch(await readFile(join(dest, 'image_to_vm.sh'), 'utf8'), /HOSTILE/);
});

test('--insecure-scripts without a digest: unpacked with a warning, never cached', async (t) => {
  const ctx = fx.context();
  const dest = await checkoutDir(t);
  await fetchScriptsCheckout(ctx, fx.releases.get(RELEASE.version)!, dest, { insecure: true });
  assert.ok((await readdir(dest)).includes('image_to_vm.sh'));
  assert.ok(ctx.lines.some((line) => /unverified .*--insecure-scripts/.test(line)), ctx.lines.join('\n'));
  assert.deepEqual(await readdir(join(ctx.cacheDir, 'flatcar-scripts')).catch(() => []), []);
});

async function vendorJob(t: TestContext, vendor: string, route: 'sdk' | 'native', scripts: ScriptsTrust) {
  const dir = await mkdtemp(join(fx.scratch, `${vendor}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'out'));
  const image = await fx.disk(dir, RELEASE.version);
  return { dir, job: { vendor, route, release: fx.releases.get(RELEASE.version)!, image, workDir: dir, outputDir: join(dir, 'out'), compression: ['none'], containerRuntime: 'podman' as const, scripts } };
}

test('SDK route with a hostile tarball: verify error, no container created, nothing left', async (t) => {
  await serveHostile(t, tarballPath, () => copyFile(hostileTarball, tarballPath));
  const { dir, job } = await vendorJob(t, 'azure', 'sdk', genuine());
  const ctx = fx.context();
  await assert.rejects(produceVendorImage(ctx, job), isKind('verify'));
  assert.ok(!ctx.lines.some((line) => line.startsWith('+ podman create')));
  assert.deepEqual((await readdir(dir)).sort(), ['flatcar_production_image.bin', 'out']);
  assert.deepEqual(await readdir(join(dir, 'out')), []);
});

test('native qemu_uefi with a launcher no digest vouches for: verify error, no launcher published', async (t) => {
  await serveHostile(t, templatePath, () => writeFile(templatePath, HOSTILE_TEMPLATE));
  const { dir, job } = await vendorJob(t, 'qemu_uefi', 'native', { sha256: sha256Text(QEMU_TEMPLATE_STANDIN), insecure: true });
  await assert.rejects(produceVendorImage(fx.context(), job), isKind('verify'));
  assert.deepEqual(await readdir(join(dir, 'out')), []);
});

test('native qemu_uefi over plain HTTP without --insecure-scripts: usage error, no launcher fetched', async (t) => {
  const { dir, job } = await vendorJob(t, 'qemu_uefi', 'native', { insecure: false });
  const before = fx.mirror.requests.filter((r) => r.path.endsWith('qemu_template.sh')).length;
  await assert.rejects(produceVendorImage(fx.context(), job), isKind('usage'));
  assert.equal(fx.mirror.requests.filter((r) => r.path.endsWith('qemu_template.sh')).length, before);
  assert.deepEqual(await readdir(join(dir, 'out')), []);
});
