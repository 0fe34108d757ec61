/**
 * The flatcar/scripts files bake runs (the SDK route's tarball, the native route's qemu launcher) are
 * refused over plain HTTP and checked before anything runs them: the tarball by the git tree it holds
 * (unpacked privately, hashed by git), the launcher by its digest. Stand-ins made from a small git repo
 * (as GitHub makes source tarballs) and hostile variants are served by the 127.0.0.1 mirror; an
 * unverified copy is never cached or reused.
 */

import assert from 'node:assert/strict';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import { sha256File } from '../../bake/core/checksums.ts';
import { type ErrorKind, isBakeError } from '../../bake/core/errors.ts';
import { fetchScriptsCheckout } from '../../bake/vendor/scripts-source.ts';
import { type ScriptsTrust, sha256Text } from '../../bake/vendor/scripts-trust.ts';
import { SCRIPTS_TAG_TREES } from '../../vendors/scripts-pins.ts';
import { fixtureRunner } from '../support/fixtures/run.ts';
import { buildScriptsStandinTarball } from '../support/fixtures/sdk-standin.ts';
import {
  produceAsPlanned,
  QEMU_TEMPLATE_STANDIN,
  type VendorFixture,
  vendorFixture,
} from '../support/vendor-fixture.ts';

const RELEASE = {
  version: '4790.0.0',
  channel: 'alpha' as const,
  sdkVersion: '4790.0.0',
  oems: ['qemu'],
  firmware: true,
};
const TAG = 'alpha-4790.0.0';
const HOSTILE_TEMPLATE = '#!/bin/sh\ncurl -s http://127.0.0.1:1/pwned\n';

let fx: VendorFixture;
const releases: Array<() => unknown> = [];
let tarballPath: string;
let hostileTarball: string;
let templatePath: string;
/** The stand-in made again from the same files, then changed and committed: what a tampering mirror serves. */
const tampered: Record<string, string> = {};
const TAMPERINGS: Record<string, (root: string) => Promise<void>> = {
  'a changed file': (root) => writeFile(join(root, 'image_to_vm.sh'), '#!/bin/bash\necho HOSTILE\n'),
  'an added file': (root) => writeFile(join(root, 'sdk_lib/extra.sh'), '#!/bin/bash\necho HOSTILE\n', { mode: 0o755 }),
  'a changed mode': (root) => chmod(join(root, 'README.STANDIN'), 0o755),
};

before(async () => {
  fx = await vendorFixture({ after: (fn) => releases.push(fn) }, [RELEASE]);
  tarballPath = join(fx.root, 'flatcar/scripts/archive', `${TAG}.tar.gz`);
  templatePath = join(fx.root, 'flatcar/scripts/raw', TAG, 'build_library/qemu_template.sh');
  hostileTarball = join(fx.scratch, 'hostile.tar.gz');
  await buildScriptsStandinTarball(hostileTarball, {
    tag: TAG,
    sdkVersion: RELEASE.sdkVersion,
    failWith: 'HOSTILE scripts ran',
  });
  for (const [name, tamper] of Object.entries(TAMPERINGS)) {
    tampered[name] = join(fx.scratch, `${name.replaceAll(' ', '-')}.tar.gz`);
    const tree = await buildScriptsStandinTarball(tampered[name], { tag: TAG, sdkVersion: RELEASE.sdkVersion, tamper });
    assert.equal(tree, genuine().tree, 'the same files make the same tree');
  }
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

/** The served stand-in unpacked, changed by `mutate` and packed again with tar (what git archive cannot make). */
async function retarred(t: TestContext, mutate: (top: string) => Promise<void>): Promise<string> {
  const dir = await checkoutDir(t);
  const tree = join(dir, 'tree');
  await mkdir(tree);
  const run = fixtureRunner();
  await run.run('tar', ['-xzf', tarballPath, '-C', tree]);
  await mutate(join(tree, `scripts-${TAG}`));
  const out = join(dir, 'retarred.tar.gz');
  await run.run('tar', ['-czf', out, '-C', tree, ...(await readdir(tree))]);
  return out;
}

async function refusedCheckout(t: TestContext, tarball: string): Promise<void> {
  await serveHostile(t, tarballPath, () => copyFile(tarball, tarballPath));
  const ctx = fx.context();
  const dest = await checkoutDir(t);
  await assert.rejects(fetchScriptsCheckout(ctx, fx.releases.get(RELEASE.version)!, dest, genuine()), isKind('verify'));
  assert.deepEqual(await readdir(dest), [], 'nothing unpacked');
  assert.deepEqual(await readdir(join(ctx.cacheDir, 'flatcar-scripts')).catch(() => []), [], 'nothing cached');
}

test('a tarball holding the pinned tree is unpacked with the modes git records, and cached with its marker', async (t) => {
  const ctx = fx.context();
  const dest = await checkoutDir(t);
  await fetchScriptsCheckout(ctx, fx.releases.get(RELEASE.version)!, dest, genuine());
  assert.deepEqual((await readdir(dest)).sort(), ['README.STANDIN', 'image_to_vm.sh', 'sdk_container', 'sdk_lib']);
  assert.equal((await stat(join(dest, 'image_to_vm.sh'))).mode & 0o7777, 0o755);
  assert.equal((await stat(join(dest, 'README.STANDIN'))).mode & 0o7777, 0o644);
  assert.deepEqual((await readdir(join(ctx.cacheDir, 'flatcar-scripts'))).sort(), [
    `${TAG}.tar.gz`,
    `${TAG}.tar.gz.verified`,
  ]);
  const again = await checkoutDir(t);
  const before = archiveRequests();
  await fetchScriptsCheckout(ctx, fx.releases.get(RELEASE.version)!, again, genuine());
  assert.equal(archiveRequests(), before, 'the verified tarball is reused');
  assert.ok((await readdir(again)).includes('image_to_vm.sh'));
});

for (const name of Object.keys(TAMPERINGS)) {
  test(`a tarball of the tag with ${name}: verify error, nothing unpacked or cached`, (t) =>
    refusedCheckout(t, tampered[name]!));
}

test('a tarball with a .git folder, which git does not record: verify error', async (t) => {
  await refusedCheckout(
    t,
    await retarred(t, (top) =>
      mkdir(join(top, 'sdk_lib/.Git')).then(() => writeFile(join(top, 'sdk_lib/.Git/config'), '[core]\n')),
    ),
  );
});

test('a tarball with a FIFO, which git does not record: verify error', async (t) => {
  await refusedCheckout(
    t,
    await retarred(t, (top) =>
      fixtureRunner()
        .run('mkfifo', [join(top, 'sdk_lib/fifo')])
        .then(() => undefined),
    ),
  );
});

test('a tarball with two top folders: verify error', async (t) => {
  await refusedCheckout(t, await retarred(t, (top) => mkdir(join(top, '..', 'second'))));
});

test('set-ID bits and write access for others, which git does not record, are not kept', async (t) => {
  await serveHostile(t, tarballPath, async () =>
    copyFile(
      await retarred(t, async (top) => {
        await chmod(join(top, 'image_to_vm.sh'), 0o6777);
        await chmod(join(top, 'sdk_lib'), 0o777);
      }),
      tarballPath,
    ),
  );
  const dest = await checkoutDir(t);
  await fetchScriptsCheckout(fx.context(), fx.releases.get(RELEASE.version)!, dest, genuine());
  assert.equal((await stat(join(dest, 'image_to_vm.sh'))).mode & 0o7777, 0o755);
  assert.equal((await stat(join(dest, 'sdk_lib'))).mode & 0o7777, 0o755);
});

test("the pinned tree of a real release tag refuses the stand-in served under that tag's name", async (t) => {
  assert.match(SCRIPTS_TAG_TREES[TAG] ?? '', /^[0-9a-f]{40}$/);
  const ctx = fx.context();
  ctx.endpoints.scriptsTarballUrl = `file://${fx.root}/flatcar/scripts/archive/{tag}.tar.gz`;
  const dest = await checkoutDir(t);
  await assert.rejects(
    fetchScriptsCheckout(ctx, fx.releases.get(RELEASE.version)!, dest, { insecure: false }),
    isKind('verify'),
  );
  assert.ok(
    ctx.lines.some((line) => line.startsWith('+ git') && line.endsWith('write-tree')),
    'refused for the tree it holds',
  );
  assert.deepEqual(await readdir(dest), []);
});

test('tarball over plain HTTP without --insecure-scripts: usage error before anything is fetched', async (t) => {
  const ctx = fx.context();
  const dest = await checkoutDir(t);
  const before = archiveRequests();
  await assert.rejects(
    fetchScriptsCheckout(ctx, fx.releases.get(RELEASE.version)!, dest, { tree: genuine().tree!, insecure: false }),
    isKind('usage'),
  );
  assert.equal(archiveRequests(), before);
  assert.deepEqual(await readdir(dest), []);
});

test('a tag no pin covers (local mirror, no flag): verify error before anything is fetched', async (t) => {
  const ctx = fx.context();
  ctx.endpoints.scriptsTarballUrl = `file://${fx.root}/flatcar/scripts/archive/{tag}.tar.gz`;
  const dest = await checkoutDir(t);
  const unpinned = { ...fx.releases.get(RELEASE.version)!, version: '9999.0.0' };
  await assert.rejects(fetchScriptsCheckout(ctx, unpinned, dest, { insecure: false }), isKind('verify'));
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
  assert.equal(await sha256File(cached), await sha256File(tarballPath));
  assert.doesNotMatch(await readFile(join(dest, 'image_to_vm.sh'), 'utf8'), /HOSTILE/);
});

test('--insecure-scripts without a digest: unpacked with a warning, never cached', async (t) => {
  const ctx = fx.context();
  const dest = await checkoutDir(t);
  await fetchScriptsCheckout(ctx, fx.releases.get(RELEASE.version)!, dest, { insecure: true });
  assert.ok((await readdir(dest)).includes('image_to_vm.sh'));
  assert.ok(
    ctx.lines.some((line) => /unverified .*--insecure-scripts/.test(line)),
    ctx.lines.join('\n'),
  );
  assert.deepEqual(await readdir(join(ctx.cacheDir, 'flatcar-scripts')).catch(() => []), []);
});

async function vendorJob(t: TestContext, vendor: string, route: 'sdk' | 'native', scripts: ScriptsTrust) {
  const dir = await mkdtemp(join(fx.scratch, `${vendor}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'out'));
  const image = await fx.disk(dir, RELEASE.version);
  return {
    dir,
    job: {
      vendor,
      route,
      release: fx.releases.get(RELEASE.version)!,
      image,
      workDir: dir,
      outputDir: join(dir, 'out'),
      compression: ['none'],
      containerRuntime: 'podman' as const,
      scripts,
    },
  };
}

test('SDK route with a hostile tarball: verify error, no container created, nothing left', async (t) => {
  await serveHostile(t, tarballPath, () => copyFile(hostileTarball, tarballPath));
  const { dir, job } = await vendorJob(t, 'azure', 'sdk', genuine());
  const ctx = fx.context();
  await assert.rejects(produceAsPlanned(ctx, job), isKind('verify'));
  assert.ok(!ctx.lines.some((line) => line.startsWith('+ podman create')));
  assert.deepEqual((await readdir(dir)).sort(), ['flatcar_production_image.bin', 'out']);
  assert.deepEqual(await readdir(join(dir, 'out')), []);
});

test('native qemu_uefi with a launcher no digest vouches for: verify error, no launcher published', async (t) => {
  await serveHostile(t, templatePath, () => writeFile(templatePath, HOSTILE_TEMPLATE));
  const { dir, job } = await vendorJob(t, 'qemu_uefi', 'native', {
    sha256: sha256Text(QEMU_TEMPLATE_STANDIN),
    insecure: true,
  });
  await assert.rejects(produceAsPlanned(fx.context(), job), isKind('verify'));
  assert.deepEqual(await readdir(join(dir, 'out')), []);
});

test('native qemu_uefi over plain HTTP without --insecure-scripts: usage error, no launcher fetched', async (t) => {
  const { dir, job } = await vendorJob(t, 'qemu_uefi', 'native', { insecure: false });
  const before = fx.mirror.requests.filter((r) => r.path.endsWith('qemu_template.sh')).length;
  await assert.rejects(produceAsPlanned(fx.context(), job), isKind('usage'));
  assert.equal(fx.mirror.requests.filter((r) => r.path.endsWith('qemu_template.sh')).length, before);
  assert.deepEqual(await readdir(join(dir, 'out')), []);
});
