import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchesPattern, parseInstallTarget, parseSysupdateTarget, placeSysext } from '../../bake/image/placement.ts';
import { BakeError } from '../../bake/core/errors.ts';

const bakeryConf = `[Transfer]
Verify=false

[Source]
Type=url-file
Path=https://extensions.flatcar.org/extensions/docker/
MatchPattern=docker-@v-%a.raw

[Target]
InstancesMax=3
Type=regular-file
Path=/opt/extensions/docker
CurrentSymlink=/etc/extensions/docker.raw
`;

test('--install_to: partitions, default dirs, and refused paths', () => {
  assert.deepEqual(parseInstallTarget('root:/opt/extensions/'), { partition: 'root', dir: '/opt/extensions' });
  assert.deepEqual(parseInstallTarget('oem:/sysexts'), { partition: 'oem', dir: '/sysexts' });
  assert.deepEqual(parseInstallTarget('root'), { partition: 'root', dir: '/opt/extensions' });
  assert.deepEqual(parseInstallTarget('oem'), { partition: 'oem', dir: '/extensions' });
  for (const bad of ['usr:/x', 'boot:/x', 'root:relative', 'root:/opt/../../etc', 'oem:..', '']) {
    assert.throws(() => parseInstallTarget(bad), (e: unknown) => e instanceof BakeError && e.kind === 'usage', bad);
  }
});

test('the [Target] section of a sysupdate conf, ignoring [Source]', () => {
  assert.deepEqual(parseSysupdateTarget(bakeryConf), { path: '/opt/extensions/docker', currentSymlink: '/etc/extensions/docker.raw', matchPatterns: [] });
  const withPattern = parseSysupdateTarget('[Target]\nMatchPattern=k3s-@v-%a.raw k3s-@v.raw\nPath=/opt/extensions/k3s/\n');
  assert.deepEqual(withPattern, { path: '/opt/extensions/k3s', matchPatterns: ['k3s-@v-%a.raw', 'k3s-@v.raw'] });
});

test('sysupdate MatchPattern matching with @v and %a', () => {
  assert.ok(matchesPattern('docker-27.3.1-x86-64.raw', 'docker-@v-%a.raw', 'x86-64'));
  assert.ok(!matchesPattern('docker-27.3.1-arm64.raw', 'docker-@v-%a.raw', 'x86-64'));
  assert.ok(!matchesPattern('docker.raw', 'docker-@v-%a.raw', 'x86-64'));
  assert.ok(matchesPattern('kubernetes-v1.31.4-arm64.raw', 'kubernetes-v1.31.@v-%a.raw', 'arm64'));
  assert.ok(!matchesPattern('kubernetes-v1.32.0-arm64.raw', 'kubernetes-v1.31.@v-%a.raw', 'arm64'));
  assert.ok(!matchesPattern('dockerX27-x86-64.raw', 'docker.@v-%a.raw', 'x86-64'), 'a literal dot is not a wildcard');
});

test('default placement: <dir>/<name>/<file>, linked from /etc/extensions/<name>.raw', () => {
  const root = placeSysext('hello', 'hello.raw', parseInstallTarget('root:/opt/extensions'));
  assert.deepEqual(root, {
    name: 'hello', file: 'hello.raw', partition: 'root', pathInPartition: '/opt/extensions/hello/hello.raw',
    osPath: '/opt/extensions/hello/hello.raw', symlinks: ['/etc/extensions/hello.raw'],
  });
  const oem = placeSysext('hello', 'hello.raw', parseInstallTarget('oem:/sx'));
  assert.equal(oem.osPath, '/oem/sx/hello/hello.raw');
  assert.equal(oem.pathInPartition, '/sx/hello/hello.raw');
  assert.deepEqual(oem.symlinks, ['/etc/extensions/hello.raw']);
});

test("a conf's Target Path and CurrentSymlink win, so sysupdate sees the baked image", () => {
  const conf = parseSysupdateTarget(bakeryConf.replace('Path=/opt/extensions/docker', 'Path=/oem/extensions/docker-updates').replace('CurrentSymlink=/etc/extensions/docker.raw', 'CurrentSymlink=/etc/extensions/docker-current.raw'));
  const placed = placeSysext('docker', 'docker-27.3.1-x86-64.raw', parseInstallTarget('root:/opt/extensions'), conf);
  assert.equal(placed.partition, 'oem');
  assert.equal(placed.osPath, '/oem/extensions/docker-updates/docker-27.3.1-x86-64.raw');
  assert.deepEqual(placed.symlinks, ['/etc/extensions/docker.raw', '/etc/extensions/docker-current.raw']);
  assert.equal(placed.confPath, '/etc/sysupdate.docker.d/docker.conf');
  assert.match(placed.note ?? '', /Target\] Path/);
  const usr = parseSysupdateTarget('[Target]\nPath=/usr/lib/extensions\n');
  assert.throws(() => placeSysext('docker', 'd.raw', parseInstallTarget('root'), usr), (e: unknown) => e instanceof BakeError && /read-only/.test(e.hint ?? ''));
});
