/**
 * The repository's pure parts: the bakery's names, the build list format, SHA256SUMS, the build plan,
 * the URL layout of `bake repo serve`, byte ranges, and the catalogue `bake repo list` reads.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatSums, parseSums } from '../../bake/core/checksums.ts';
import { BakeError } from '../../bake/core/errors.ts';
import { contentType, parseRange } from '../../bake/net/serve-file.ts';
import { catalogFromSums, resolveImage } from '../../bake/repo/catalog.ts';
import type { PublishedRelease } from '../../bake/repo/layout.ts';
import { checkNameAndVersion, imageFileName, parseImageFileName, parseReleaseTag } from '../../bake/repo/names.ts';
import { describePlan, planBuilds, resolveBuildList } from '../../bake/repo/plan.ts';
import { candidateFiles, parseListen } from '../../bake/repo/serve.ts';
import { parseBuildList } from '../../bake/repo/versions-file.ts';

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);

test('image names round-trip, splitting at the last dash before the arch', () => {
  assert.equal(
    imageFileName({ name: 'docker-compose', version: '2.30.3', arch: 'arm64' }),
    'docker-compose-2.30.3-arm64.raw',
  );
  assert.deepEqual(parseImageFileName('docker-compose-2.30.3-arm64.raw'), {
    name: 'docker-compose',
    version: '2.30.3',
    arch: 'arm64',
  });
  assert.deepEqual(parseImageFileName('k3s-v1.32.2+k3s1-x86-64.raw'), {
    name: 'k3s',
    version: 'v1.32.2+k3s1',
    arch: 'x86-64',
  });
  assert.equal(parseImageFileName('docker.conf'), undefined);
  assert.equal(parseImageFileName('docker-x86-64.raw'), undefined, 'no version');
  assert.deepEqual(parseReleaseTag('kubernetes-v1.32.2'), { name: 'kubernetes', version: 'v1.32.2' });
});

test('versions that would not split back are refused with a hint', () => {
  assert.throws(
    () => checkNameAndVersion('docker', '27.3.1-rc1'),
    (error: BakeError) => error.kind === 'input' && /must split/.test(error.hint ?? ''),
  );
  assert.throws(() => checkNameAndVersion('docker', '../x'), BakeError);
  assert.doesNotThrow(() => checkNameAndVersion('k3s', 'v1.32.2+k3s1'));
});

test('the build list reads release_build_versions.txt lines, comments and latest', () => {
  const entries = parseBuildList('# pins\nkubernetes v1.28.5 # required for CAPO CI\n\ndocker latest\n');
  assert.deepEqual(entries, [
    { name: 'kubernetes', version: 'v1.28.5', line: 2, comment: 'required for CAPO CI' },
    { name: 'docker', version: 'latest', line: 4 },
  ]);
  assert.throws(() => parseBuildList('docker\n', 'list.txt'), /list.txt:1: expected/);
  assert.throws(() => parseBuildList('docker 1 2\n'), /expected '<name> <version>'/);
});

test('SHA256SUMS parse and format in sha256sum format, sorted', () => {
  const text = formatSums([
    { sha256: HASH_B, file: 'b-1-x86-64.raw' },
    { sha256: HASH_A, file: 'a-1-x86-64.raw' },
  ]);
  assert.equal(text, `${HASH_A}  a-1-x86-64.raw\n${HASH_B}  b-1-x86-64.raw\n`);
  assert.deepEqual(parseSums(`${HASH_A.toUpperCase()} *x.raw\n`), [{ sha256: HASH_A, file: 'x.raw' }]);
  assert.throws(() => parseSums('not a line\n', 'repo/SHA256SUMS'), /repo\/SHA256SUMS:1/);
});

const published = (name: string, version: string, arches: PublishedRelease['arches']): PublishedRelease => ({
  name,
  version,
  tag: `${name}-${version}`,
  arches,
  sums: [],
  confs: [],
});

test('the plan builds what is missing and never rebuilds a published release, even one lacking an arch', () => {
  const wanted = [
    { name: 'docker', version: '27.3.1', line: 1 },
    { name: 'docker', version: '27.4.0', line: 1 },
    { name: 'wasmtime', version: 'v13.0.0', line: 2 },
  ];
  const plan = planBuilds(
    wanted,
    [published('docker', '27.3.1', ['x86-64', 'arm64']), published('wasmtime', 'v13.0.0', ['x86-64'])],
    ['x86-64', 'arm64'],
  );
  assert.deepEqual(plan.build, [
    { name: 'docker', version: '27.4.0', tag: 'docker-27.4.0', arches: ['x86-64', 'arm64'] },
  ]);
  assert.deepEqual(
    plan.skip.map((s) => s.reason),
    ['published', 'published without arm64 (never rebuilt)'],
  );
  assert.deepEqual(describePlan(plan, [{ name: 'x', error: 'boom' }]), [
    'build  docker-27.4.0 (x86-64, arm64)',
    'skip   docker-27.3.1: published',
    'skip   wasmtime-v13.0.0: published without arm64 (never rebuilt)',
    'failed x: boom',
  ]);
});

test('resolving the build list: latest expands to several versions, a failing upstream is recorded, not fatal', async () => {
  const entries = parseBuildList('kubernetes latest\nbroken latest\ndocker 27.3.1\nkubernetes v1.32.2\nbad latest\n');
  const upstream = {
    latestVersions: async (name: string) => {
      if (name === 'kubernetes') return ['v1.32.2', 'v1.31.6'];
      if (name === 'bad') return ['1.0-rc1'];
      throw new Error('503 Service Unavailable');
    },
  };
  const { wanted, failed } = await resolveBuildList(entries, upstream);
  assert.deepEqual(
    wanted.map((w) => `${w.name}-${w.version}`),
    ['kubernetes-v1.32.2', 'kubernetes-v1.31.6', 'docker-27.3.1'],
  );
  assert.deepEqual(
    failed.map((f) => f.name),
    ['broken', 'bad'],
  );
  assert.match(failed[0]!.error, /503/);
  assert.match(failed[1]!.error, /invalid version '1.0-rc1'/);
});

test('serve maps the extensions.flatcar.org layout onto the release directories', () => {
  assert.deepEqual(candidateFiles('/SHA256SUMS'), ['SHA256SUMS']);
  assert.deepEqual(candidateFiles('/docker/SHA256SUMS.gpg'), ['docker/SHA256SUMS.gpg']);
  assert.deepEqual(candidateFiles('/docker/docker-27.3.1-x86-64.raw'), [
    'docker/docker-27.3.1-x86-64.raw',
    'docker-27.3.1/docker-27.3.1-x86-64.raw',
  ]);
  assert.deepEqual(candidateFiles('/a/b/docker-27.3.1-arm64.raw').at(-1), 'docker-27.3.1/docker-27.3.1-arm64.raw');
  assert.deepEqual(candidateFiles('/docker.conf'), ['docker.conf', 'docker/docker.conf']);
  assert.deepEqual(candidateFiles('/kubernetes-v1.32.conf'), [
    'kubernetes-v1.32.conf',
    'kubernetes-v1.32/kubernetes-v1.32.conf',
    'kubernetes/kubernetes-v1.32.conf',
  ]);
  assert.deepEqual(candidateFiles('/docker-27.3.1/docker.conf'), ['docker-27.3.1/docker.conf']);
  assert.deepEqual(candidateFiles('/../etc/passwd'), [], 'no way out of the repository');
  assert.deepEqual(candidateFiles('/docker/.building-x/a'), [], 'temporaries are private');
  assert.deepEqual(candidateFiles('/'), []);
});

test('--listen takes host:port or a port', () => {
  assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListen('9000'), { host: '127.0.0.1', port: 9000 });
  assert.deepEqual(parseListen('[::1]:80'), { host: '::1', port: 80 });
  assert.throws(
    () => parseListen('localhost:99999'),
    (error: BakeError) => error.kind === 'usage',
  );
  assert.throws(() => parseListen('nonsense'), /invalid --listen/);
});

test('byte ranges and content types', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
  assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
  assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-1,5-6', 100), undefined);
  assert.equal(contentType('docker/SHA256SUMS'), 'text/plain; charset=utf-8');
  assert.equal(contentType('SHA256SUMS.gpg'), 'application/pgp-signature');
  assert.equal(contentType('docker-1-x86-64.raw'), 'application/octet-stream');
  assert.equal(contentType('docker.conf'), 'text/plain; charset=utf-8');
});

test('the catalogue lists extensions, versions newest first and arches; name@version resolves to a URL', () => {
  const sums = [
    `${HASH_A}  docker-27.3.1-x86-64.raw`,
    `${HASH_B}  docker-27.10.0-x86-64.raw`,
    `${HASH_A}  docker-27.10.0-arm64.raw`,
    `${HASH_B}  wasmtime-v13.0.0-x86-64.raw`,
    `${HASH_A}  docker.conf`,
  ].join('\n');
  const catalog = catalogFromSums('https://example.invalid/extensions/', sums);
  assert.deepEqual(
    catalog.extensions.map(({ name, versions, arches }) => ({ name, versions, arches })),
    [
      { name: 'docker', versions: ['27.10.0', '27.3.1'], arches: ['arm64', 'x86-64'] },
      { name: 'wasmtime', versions: ['v13.0.0'], arches: ['x86-64'] },
    ],
  );
  assert.deepEqual(resolveImage(catalog, 'docker@27.3.1', 'x86-64'), {
    name: 'docker',
    version: '27.3.1',
    arch: 'x86-64',
    sha256: HASH_A,
    url: 'https://example.invalid/extensions/docker/docker-27.3.1-x86-64.raw',
  });
  assert.equal(resolveImage(catalog, 'docker', 'x86-64').version, '27.10.0');
  assert.throws(
    () => resolveImage(catalog, 'docker@27.3.1', 'arm64'),
    (error: BakeError) => error.hint === 'versions for arm64: 27.10.0',
  );
  assert.throws(() => resolveImage(catalog, 'nginx', 'x86-64'), /nginx is not in/);
});
