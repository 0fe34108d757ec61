/**
 * The catalogue's group A built against its stand-in upstreams (test/support/fixtures/upstream-recipes-a.ts):
 * every recipe's `latest` comes from its upstream's API; every recipe for both arches passes lint
 * (createSysext refuses otherwise) and systemd-dissect with its sysupdate conf; the images merge with
 * systemd-sysext and their binaries run. The evidence each recipe
 * relies on fails closed: HashiCorp's signed SHA256SUMS (tampered, wrong key, not the pinned key), GitHub
 * asset digests (tampered download; an older release without digests warns), containerd's runc pin.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import type { Arch } from '../../bake/core/arch.ts';
import { BakeError } from '../../bake/core/errors.ts';
import { createSysext } from '../../bake/sysext/create.ts';
import { latestVersions } from '../../bake/sysext/versions.ts';
import { HASHICORP_KEY } from '../../sysexts/hashicorp.ts';
import { createSigningKey } from '../support/fixtures/gpg.ts';
import { STANDIN_VERSIONS } from '../support/fixtures/upstream.ts';
import { CONTAINERD_1X, KATA_WITHOUT_DIGEST, UPSTREAM_ARTEFACTS_A } from '../support/fixtures/upstream-recipes-a.ts';
import { flatcarMergeRoot, runMerged } from '../support/sysext-merge.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const GROUP_A = Object.keys(UPSTREAM_ARTEFACTS_A);

let upstream: Upstream;
let work: string;

before(async () => {
  upstream = await startUpstream(['x86-64', 'arm64'], { only: GROUP_A });
  work = await mkdtemp(join(tmpdir(), 'recipes-a-'));
});

after(async () => {
  await upstream?.close();
  await rm(work, { recursive: true, force: true });
});

const failsWith = (kind: BakeError['kind']) => (error: unknown) => error instanceof BakeError && error.kind === kind;

/** A build into a fresh directory, with a cache of its own unless told to share the upstream's. */
async function build(
  name: string,
  arch: Arch,
  options: { version?: string; freshCache?: boolean; outputDir?: string } = {},
) {
  const label = `${name}-${arch}-${options.version ?? 'standin'}${options.freshCache ? '-fresh' : ''}`;
  const ctx = upstream.context(options.freshCache ? { cacheDir: join(work, 'cache', label) } : {});
  const version = options.version ?? STANDIN_VERSIONS[name]!;
  const outputDir = options.outputDir ?? join(work, label);
  const result = await createSysext(ctx, {
    name,
    version,
    arch,
    outputDir,
    outputFile: `${name}-${version}-${arch}`,
    sysupdate: true,
    os: 'flatcar',
  });
  return { ctx, result, outputDir, version };
}

for (const name of GROUP_A) {
  for (const arch of ['x86-64', 'arm64'] as Arch[]) {
    test(`${name} builds for ${arch}, passes lint and systemd-dissect`, async () => {
      const { result, outputDir, version } = await build(name, arch);
      assert.deepEqual(
        (await readdir(outputDir)).sort(),
        [`${name}-${version}-${arch}.raw`, `${name}.conf`, `SHA256SUMS.${name}`].sort(),
      );
      assert.match(
        await readFile(join(outputDir, `${name}.conf`), 'utf8'),
        new RegExp(`MatchPattern=${name}-@v-%a\\.raw`),
      );
      // systemd-dissect only calls an image an extension when the file name matches extension-release.
      const named = join(outputDir, `${name}.raw`);
      await execa('ln', ['-s', result.image, named]);
      const { stdout } = await execa('systemd-dissect', [named]);
      assert.match(stdout, /✓ extension for system/);
      assert.match(stdout, new RegExp(`ARCHITECTURE=${arch}`));
    });
  }
}

test('systemd-sysext merges group A images (usr and opt) and their binaries run', async () => {
  const root = join(work, 'merge-root');
  const extensions = await flatcarMergeRoot(root);
  for (const name of ['containerd', 'kata-containers', 'consul', 'docker-buildx']) {
    const { result } = await build(name, 'x86-64', { outputDir: join(work, `merge-${name}`) });
    await copyFile(result.image, join(extensions, `${name}.raw`));
  }
  const stdout = await runMerged(root, [
    'for tool in usr/bin/containerd usr/bin/runc usr/bin/kata-runtime usr/bin/consul usr/lib/docker/cli-plugins/docker-buildx; do "$1/$tool"; done',
    'cat "$1/usr/share/containerd/config.toml"',
    'ls "$1/usr/lib/systemd/system"',
  ]);
  for (const tool of ['containerd', 'runc', 'kata-runtime', 'consul', 'docker-buildx'])
    assert.match(stdout, new RegExp(`^${tool} \\(x86_64 stand-in\\)$`, 'm'));
  assert.match(stdout, /^version = 3$/m, 'containerd 2 reads config version 3');
  assert.match(stdout, /^consul\.service$/m);
});

test('HashiCorp: a zip swapped together with its SHA256SUMS line fails the signature check', async (t) => {
  const v = STANDIN_VERSIONS.vault!;
  const dir = join(upstream.dir, 'www', `releases.hashicorp.com/vault/${v}`);
  const zip = join(dir, `vault_${v}_linux_amd64.zip`);
  const sums = join(dir, `vault_${v}_SHA256SUMS`);
  const [original, originalSums] = await Promise.all([readFile(zip), readFile(sums, 'utf8')]);
  t.after(() => Promise.all([writeFile(zip, original), writeFile(sums, originalSums)]));
  // What a compromised mirror would serve: another zip, and a checksum list that matches it.
  const evil = Buffer.concat([original, Buffer.from('appended by the mirror')]);
  await writeFile(zip, evil);
  await writeFile(
    sums,
    originalSums.replace(
      /^\w+(?= {2}vault_[\d.]+_linux_amd64\.zip$)/m,
      createHash('sha256').update(evil).digest('hex'),
    ),
  );
  await assert.rejects(build('vault', 'x86-64', { freshCache: true }), failsWith('verify'));
});

test('HashiCorp: SHA256SUMS signed by another key than the configured one is refused', async (t) => {
  const other = await createSigningKey(join(work, 'other-key'), { name: 'Not HashiCorp' });
  t.after(() => other.close());
  const ctx = upstream.context({ cacheDir: join(work, 'cache', 'other-key') });
  ctx.endpoints.hashicorpKey = other.publicKeyPath;
  await assert.rejects(
    createSysext(ctx, {
      name: 'nomad',
      version: STANDIN_VERSIONS.nomad!,
      arch: 'arm64',
      outputDir: join(work, 'nomad-other-key'),
    }),
    failsWith('verify'),
  );
});

test("HashiCorp: at the default key URL, a key that is not HashiCorp's pinned key is refused", async () => {
  const cacheDir = join(work, 'cache', 'pinned');
  const ctx = upstream.context({ cacheDir });
  ctx.endpoints.hashicorpKey = HASHICORP_KEY.default;
  // The stand-in key where the download of the default URL is cached: nothing goes to the real host.
  await cacheKey(
    cacheDir,
    HASHICORP_KEY.default,
    join(upstream.dir, 'www', 'www.hashicorp.com/.well-known/pgp-key.txt'),
  );
  await assert.rejects(
    createSysext(ctx, {
      name: 'consul',
      version: STANDIN_VERSIONS.consul!,
      arch: 'x86-64',
      outputDir: join(work, 'consul-pinned'),
    }),
    (error: unknown) =>
      failsWith('verify')(error) && /C874011F0AB405110D02105534365D9472D7468F/.test((error as Error).message),
  );
});

test('HashiCorp: a cached key that does not know the signer (a rotated subkey) is fetched once more', async (t) => {
  const cacheDir = join(work, 'cache', 'rotated');
  const stale = await createSigningKey(join(work, 'stale-key'), { name: 'HashiCorp before the rotation' });
  t.after(() => stale.close());
  const ctx = upstream.context({ cacheDir });
  await cacheKey(cacheDir, ctx.endpoints.hashicorpKey!, stale.publicKeyPath);
  const result = await createSysext(ctx, {
    name: 'nomad',
    version: STANDIN_VERSIONS.nomad!,
    arch: 'x86-64',
    outputDir: join(work, 'nomad-rotated'),
  });
  assert.match(result.image, /nomad\.raw$/);
});

/** Puts `key` where bake caches the download of the key URL `url`. */
async function cacheKey(cacheDir: string, url: string, key: string): Promise<void> {
  await mkdir(join(cacheDir, 'keys'), { recursive: true });
  await copyFile(key, join(cacheDir, 'keys', url.replace(/^[a-z]+:\/\//, '').replace(/[^\w.-]+/g, '_')));
}

test('GitHub asset digest: a kata tarball changed on the way is refused, and nothing is left behind', async () => {
  upstream.mirror.fault(/kata-static-[\d.]+-amd64\.tar\.zst$/, { corrupt: true, times: 10 });
  const outputDir = join(work, 'kata-corrupt');
  await assert.rejects(build('kata-containers', 'x86-64', { freshCache: true, outputDir }), failsWith('verify'));
  upstream.mirror.clearFaults();
  await assert.rejects(readdir(outputDir), /ENOENT/);
});

test('GitHub asset digest: a release from before GitHub listed digests builds with a warning (.tar.xz)', async () => {
  const { ctx, result } = await build('kata-containers', 'x86-64', { version: KATA_WITHOUT_DIGEST });
  assert.match(result.image, /kata-containers-3\.12\.0-x86-64\.raw$/);
  assert.ok(
    ctx.log.lines.some((line) => /no digest .* unverified/.test(line)),
    ctx.log.lines.join('\n'),
  );
});

test('containerd 1.x ships config version 2, the one it reads, with the runc its tag pins', async () => {
  const { result } = await build('containerd', 'x86-64', { version: CONTAINERD_1X });
  const { stdout: config } = await execa('unsquashfs', ['-cat', result.image, 'usr/share/containerd/config.toml']);
  assert.match(config, /^version = 2$/m);
  assert.match(config, /io\.containerd\.grpc\.v1\.cri/);
  const { stdout: listing } = await execa('unsquashfs', ['-lc', result.image]);
  for (const tool of ['containerd-shim-runc-v1', 'runc']) assert.match(listing, new RegExp(`/usr/bin/${tool}$`, 'm'));
});

test('containerd: a runc pin that is not a version is refused before it reaches a URL', async () => {
  upstream.mirror.fault(/\/script\/setup\/runc-version$/, { corrupt: true });
  const before = upstream.mirror.requests.length;
  await assert.rejects(build('containerd', 'arm64', { freshCache: true }), failsWith('input'));
  upstream.mirror.clearFaults();
  const asked = upstream.mirror.requests.slice(before).map((request) => request.path);
  assert.ok(
    asked.some((path) => path.endsWith('/runc-version')),
    asked.join('\n'),
  );
  assert.ok(!asked.some((path) => path.includes('/opencontainers/runc/')), asked.join('\n'));
});

test('GitHub asset digests: one API request per release, however many assets and arches a run checks', async () => {
  const ctx = upstream.context({ cacheDir: join(work, 'cache', 'one-request') });
  const before = upstream.mirror.requests.length;
  for (const arch of ['x86-64', 'arm64'] as Arch[]) {
    await createSysext(ctx, {
      name: 'ig',
      version: STANDIN_VERSIONS.ig!,
      arch,
      outputDir: join(work, `ig-one-request-${arch}`),
    });
  }
  const asked = upstream.mirror.requests.slice(before).filter((request) => request.path.includes('/releases/tags/'));
  assert.equal(asked.length, 1, asked.map((request) => request.path).join('\n'));
});

test("every group A recipe's `latest` comes from its upstream's API and names the stand-in release", async () => {
  const ctx = upstream.context();
  for (const name of GROUP_A) {
    const expected =
      name === 'containerd' ? [STANDIN_VERSIONS.containerd, CONTAINERD_1X, '1.6.36'] : [STANDIN_VERSIONS[name]];
    assert.deepEqual(await latestVersions(ctx, name), expected, name);
  }
});
