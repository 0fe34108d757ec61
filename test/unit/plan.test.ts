import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveEndpoints } from '../../bake/core/endpoints.ts';
import { BakeError } from '../../bake/core/errors.ts';
import type { ResolvedRelease } from '../../bake/flatcar/release.ts';
import { parseBakeRequest, parseSysextSpec, planBake } from '../../bake/pipeline/plan.ts';

const isUsage = (error: unknown) => error instanceof BakeError && error.kind === 'usage';

test('sysext arguments: name:file, name@version, and bakery files with --fetch', () => {
  assert.deepEqual(parseSysextSpec('docker:docker-27.3.1-x86-64.raw', false), {
    name: 'docker',
    source: 'local',
    file: 'docker-27.3.1-x86-64.raw',
  });
  assert.deepEqual(parseSysextSpec('docker:docker-27.3.1-x86-64.raw', true), {
    name: 'docker',
    source: 'bakery',
    file: 'docker-27.3.1-x86-64.raw',
  });
  assert.deepEqual(parseSysextSpec('kubernetes@v1.31.4', false), {
    name: 'kubernetes',
    source: 'recipe',
    version: 'v1.31.4',
  });
  assert.deepEqual(parseSysextSpec('kubernetes@latest', true), {
    name: 'kubernetes',
    source: 'catalog',
    version: 'latest',
  });
  assert.deepEqual(parseSysextSpec('k3s:dir/k3s@v1.raw', false), {
    name: 'k3s',
    source: 'local',
    file: 'dir/k3s@v1.raw',
  });
});

test('bad sysext names and arguments are usage errors', () => {
  for (const bad of [
    ':file.raw',
    'a/b:file.raw',
    '..:file.raw',
    'a..b:x.raw',
    'has space:x.raw',
    ' x:y',
    'name:',
    'name@',
    'justaname',
    '.hidden:x.raw',
  ]) {
    assert.throws(() => parseSysextSpec(bad, false), isUsage, bad);
  }
  assert.throws(() => parseSysextSpec('docker:sub/docker.raw', true), isUsage);
});

test('defaults follow bake_flatcar_image.sh', () => {
  const request = parseBakeRequest(['a:a.raw'], {}, '/work');
  assert.deepEqual(request.release, { channel: 'stable' });
  assert.equal(request.arch, 'x86-64');
  assert.deepEqual(request.installTo, { partition: 'root', dir: '/opt/extensions' });
  assert.deepEqual(request.vendors, [], 'the generic image only');
  assert.equal(request.outputDir, '/work');
  assert.equal(request.smokeTimeoutSeconds, undefined, "the boot check's own default");
  assert.equal(parseBakeRequest(['a:a.raw'], { smokeTest: true, smokeTimeout: 900 }).smokeTimeoutSeconds, 900);
});

test('vendors are checked by exact name (the original accepted "am" for "ami")', () => {
  assert.deepEqual(parseBakeRequest(['a:a.raw'], { vendor: 'ami' }).vendors, ['ami']);
  for (const bad of ['am', 'AMI', 'azur', 'qemu'])
    assert.throws(() => parseBakeRequest(['a:a.raw'], { vendor: bad }), isUsage, bad);
  assert.throws(
    () => parseBakeRequest(['a:a.raw'], { vendor: ['azure', 'gce,am'] }),
    isUsage,
    'one bad name in a list',
  );
});

test('--vendor repeated and comma-separated: every vendor once, in order, generic dropped (always made)', () => {
  const vendors = (vendor: string | string[]) => parseBakeRequest(['a:a.raw'], { vendor }).vendors;
  assert.deepEqual(vendors(['azure,gce', 'qemu_uefi']), ['azure', 'gce', 'qemu_uefi']);
  assert.deepEqual(vendors(['gce', 'azure, gce', 'generic']), ['gce', 'azure']);
  assert.deepEqual(vendors('generic'), []);
});

test('no sysexts, duplicate names, bad arch or channel are usage errors', () => {
  assert.throws(() => parseBakeRequest([], {}), isUsage);
  assert.throws(() => parseBakeRequest(['a:a.raw', 'a:b.raw'], {}), isUsage);
  assert.throws(() => parseBakeRequest(['a:a.raw'], { arch: 'sparc' }), isUsage);
  assert.throws(() => parseBakeRequest(['a:a.raw'], { release: 'edge' }), isUsage);
  assert.throws(() => parseBakeRequest(['a:a.raw'], { installTo: 'usr:/x' }), isUsage);
});

test('arch aliases from boards, Go and the kernel are accepted; vendor near misses get the right name', () => {
  for (const alias of ['amd64', 'x86_64', 'amd64-usr'])
    assert.equal(parseBakeRequest(['a:a.raw'], { arch: alias }).arch, 'x86-64');
  for (const alias of ['aarch64', 'arm64-usr'])
    assert.equal(parseBakeRequest(['a:a.raw'], { arch: alias }).arch, 'arm64');
  const hintFor = (vendor: string) => {
    try {
      parseBakeRequest(['a:a.raw'], { vendor });
    } catch (error) {
      assert.ok(isUsage(error));
      return (error as BakeError).hint;
    }
    assert.fail(`--vendor ${vendor} was accepted`);
  };
  assert.equal(hintFor('azrue'), "did you mean 'azure'?");
  assert.equal(hintFor('qemu-uefi'), "did you mean 'qemu_uefi'?");
  assert.equal(hintFor('aws'), "did you mean 'ami'?");
  assert.equal(hintFor('kubernetes'), 'run `bake vendors` for the list');
});

test('the plan lists every download, the cache paths and every path written in the image', () => {
  const release: ResolvedRelease = {
    version: '4593.2.5',
    channel: 'stable',
    arch: 'x86-64',
    board: 'amd64-usr',
    baseUrl: 'https://stable.release.flatcar-linux.net/amd64-usr/4593.2.5',
  };
  const request = parseBakeRequest(['docker:docker-27.3.1-x86-64.raw', 'kubernetes@v1.31.4'], {
    fetch: true,
    installTo: 'oem:/ext',
    output: '/out',
  });
  const plan = planBake(request, release, { endpoints: resolveEndpoints({}, {}), cacheDir: '/cache' });
  assert.deepEqual(
    plan.downloads.map((d) => d.url),
    [
      `${release.baseUrl}/flatcar_production_image.bin.bz2`,
      `${release.baseUrl}/flatcar_production_image.bin.bz2.DIGESTS`,
      `${release.baseUrl}/flatcar_production_image.bin.bz2.DIGESTS.sig`,
      `${release.baseUrl}/version.txt`,
      `${release.baseUrl}/version.txt.sig`,
    ],
  );
  assert.equal(plan.downloads[0]!.to, '/cache/releases/stable/amd64-usr/4593.2.5/flatcar_production_image.bin.bz2');
  assert.equal(plan.output, '/out/flatcar_production_image.bin');
  const [docker, kubernetes] = plan.sysexts;
  assert.deepEqual(docker!.downloads, [
    'https://extensions.flatcar.org/extensions/docker/SHA256SUMS',
    'https://extensions.flatcar.org/extensions/docker-27.3.1-x86-64.raw',
    'https://extensions.flatcar.org/extensions/docker.conf',
  ]);
  assert.equal(docker!.placement.osPath, '/oem/ext/docker/docker-27.3.1-x86-64.raw');
  assert.equal(docker!.placement.partition, 'oem');
  assert.equal(kubernetes!.placement.pathInPartition, '/ext/kubernetes/kubernetes-v1.31.4-x86-64.raw');
  assert.deepEqual(kubernetes!.placement.symlinks, ['/etc/extensions/kubernetes.raw']);
  assert.equal(kubernetes!.placement.confPath, '/etc/sysupdate.kubernetes.d/kubernetes.conf');
});
