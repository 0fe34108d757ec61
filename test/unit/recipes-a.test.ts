/**
 * The catalogue's group A as data: version lists from recorded upstream responses, the latest sets,
 * GitHub asset digests, HashiCorp's key endpoint, and each recipe's declared shape (arches, checksums,
 * reload only when it ships units).
 */

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { endpointValue, resolveEndpoints } from '../../bake/core/endpoints.ts';
import { BakeError } from '../../bake/core/errors.ts';
import { getRecipe, recipeDir } from '../../bake/sysext/catalog.ts';
import { parseAssetDigest } from '../../bake/sysext/evidence.ts';
import { parseGithubReleases, parseHashicorpReleases } from '../../bake/sysext/version-sources.ts';
import { pickLatest, selectVersions } from '../../bake/sysext/versions.ts';
import { HASHICORP_API, HASHICORP_KEY } from '../../sysexts/hashicorp.ts';

const json = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/recorded/${name}`, import.meta.url), 'utf8'));
const versionsOf = (name: string, recorded: string) =>
  selectVersions(getRecipe(name).versions, parseGithubReleases(json(recorded)));

const GROUP_A = [
  'cilium',
  'nebula',
  'containerd',
  'coder',
  'dataplaneapi',
  'kata-containers',
  'cloud-hypervisor',
  'docker-buildx',
  'ig',
  'opkssh',
  'consul',
  'nomad',
  'vault',
];

test('containerd: api/ module tags and prereleases are dropped, the v is stripped', () => {
  assert.deepEqual(versionsOf('containerd', 'github-releases-containerd.json'), [
    '2.0.1',
    '2.0.0',
    '1.7.24',
    '1.7.23',
    '1.6.36',
    '1.5.18',
    '1.4.13',
    '1.3.10',
  ]);
});

test("containerd's latest set is the newest patch of each of the five newest minors", () => {
  const versions = versionsOf('containerd', 'github-releases-containerd.json');
  assert.deepEqual(pickLatest(versions, getRecipe('containerd').latest!), [
    '2.0.1',
    '1.7.24',
    '1.6.36',
    '1.5.18',
    '1.4.13',
  ]);
});

test('cloud-hypervisor tags are major.minor (v43.0) and sort numerically', () => {
  assert.deepEqual(versionsOf('cloud-hypervisor', 'github-releases-cloud-hypervisor.json'), [
    'v43.0',
    'v42.0',
    'v41.0',
    'v40.0',
    'v39.0',
  ]);
});

test('docker-buildx versions drop the v (its asset names add it back) and skip release candidates', () => {
  assert.deepEqual(versionsOf('docker-buildx', 'github-releases-docker-buildx.json'), ['0.19.3', '0.19.2', '0.18.0']);
});

test('HashiCorp API: enterprise, FIPS and prerelease builds are not versions of the open-source zips', () => {
  assert.deepEqual(parseHashicorpReleases(json('hashicorp-releases-nomad.json')), ['1.9.4', '1.9.3', '1.8.8']);
  assert.deepEqual(parseHashicorpReleases(json('hashicorp-releases-vault.json')), ['1.18.3', '1.17.9']);
  for (const product of ['consul', 'nomad', 'vault'])
    assert.deepEqual(getRecipe(product).versions, { kind: 'hashicorp', product, endpoint: HASHICORP_API });
});

test('GitHub asset digests: the named asset, lower-cased without the sha256: prefix', () => {
  const body = json('github-release-kata-containers-3.21.0.json');
  assert.deepEqual(parseAssetDigest(body, 'kata-static-3.21.0-arm64.tar.zst'), {
    sha256: '60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752',
  });
});

test('GitHub asset digests: an older asset has none (null); a missing asset or odd digest fails closed', () => {
  assert.deepEqual(
    parseAssetDigest(json('github-release-kata-containers-3.12.0.json'), 'kata-static-3.12.0-amd64.tar.xz'),
    {},
  );
  const isVerify = (error: unknown) => error instanceof BakeError && error.kind === 'verify';
  assert.throws(
    () => parseAssetDigest(json('github-release-kata-containers-3.21.0.json'), 'kata-static-3.21.0-riscv64.tar.zst'),
    isVerify,
  );
  assert.throws(() => parseAssetDigest({ assets: [{ name: 'x', digest: 'md5:0123' }] }, 'x'), isVerify);
  assert.throws(
    () => parseAssetDigest({ message: 'Not Found' }, 'x'),
    (error: unknown) => error instanceof BakeError && error.kind === 'input',
  );
});

test("HashiCorp's key is an endpoint with a pinned default, overridable like the others", () => {
  assert.equal(HASHICORP_KEY.pinnedKey.fingerprint, 'C874011F0AB405110D02105534365D9472D7468F');
  const endpoints = resolveEndpoints({}, {});
  assert.equal(endpointValue(endpoints, HASHICORP_KEY, {}), HASHICORP_KEY.default);
  assert.equal(
    endpointValue(endpoints, HASHICORP_KEY, { BAKE_HASHICORP_KEY: '/srv/keys/hashicorp.asc' }),
    '/srv/keys/hashicorp.asc',
  );
  assert.equal(endpointValue({ ...endpoints, hashicorpKey: '/given.asc' }, HASHICORP_KEY, {}), '/given.asc');
});

/** Unit files a recipe ships in files/ (what needs EXTENSION_RELOAD_MANAGER=1 to be seen on merge). */
function shipsUnits(name: string): boolean {
  const units = join(recipeDir(name), 'files/usr/lib/systemd/system');
  return existsSync(units) && readdirSync(units).some((entry) => entry.endsWith('.service'));
}

for (const name of GROUP_A) {
  test(`${name}: both arches, checked against upstream, reload exactly when it ships units`, () => {
    const recipe = getRecipe(name);
    assert.deepEqual([...recipe.arches], ['x86-64', 'arm64']);
    assert.equal(recipe.verifiesChecksums, true);
    assert.equal(recipe.reload, shipsUnits(name));
  });
}
