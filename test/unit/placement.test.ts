import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BakeError } from '../../bake/core/errors.ts';
import { matchesPattern, parseInstallTarget, placeSysext } from '../../bake/image/placement.ts';
import { parseSysupdateConf } from '../../bake/sysext/sysupdate.ts';

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
    assert.throws(
      () => parseInstallTarget(bad),
      (e: unknown) => e instanceof BakeError && e.kind === 'usage',
      bad,
    );
  }
});

test('the [Target] section of a sysupdate conf, ignoring [Source]', () => {
  assert.deepEqual(parseSysupdateConf(bakeryConf, 'docker.conf'), {
    source: 'docker.conf',
    path: '/opt/extensions/docker',
    currentSymlink: '/etc/extensions/docker.raw',
    matchPatterns: [],
  });
  const withPattern = parseSysupdateConf(
    '[Target]\nMatchPattern=k3s-@v-%a.raw k3s-@v.raw\nPath=/opt/extensions/k3s/\n',
    'k3s.conf',
  );
  assert.deepEqual(withPattern, {
    source: 'k3s.conf',
    path: '/opt/extensions/k3s',
    matchPatterns: ['k3s-@v-%a.raw', 'k3s-@v.raw'],
  });
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
    name: 'hello',
    file: 'hello.raw',
    partition: 'root',
    pathInPartition: '/opt/extensions/hello/hello.raw',
    osPath: '/opt/extensions/hello/hello.raw',
    symlinks: ['/etc/extensions/hello.raw'],
  });
  const oem = placeSysext('hello', 'hello.raw', parseInstallTarget('oem:/sx'));
  assert.equal(oem.osPath, '/oem/sx/hello/hello.raw');
  assert.equal(oem.pathInPartition, '/sx/hello/hello.raw');
  assert.deepEqual(oem.symlinks, ['/etc/extensions/hello.raw']);
});

test("a conf's Target Path and CurrentSymlink win, so sysupdate sees the baked image", () => {
  const conf = parseSysupdateConf(
    bakeryConf
      .replace('Path=/opt/extensions/docker', 'Path=/oem/extensions/docker-updates')
      .replace('CurrentSymlink=/etc/extensions/docker.raw', 'CurrentSymlink=/etc/extensions/docker-current.raw'),
    'docker.conf',
  );
  const placed = placeSysext('docker', 'docker-27.3.1-x86-64.raw', parseInstallTarget('root:/opt/extensions'), conf);
  assert.equal(placed.partition, 'oem');
  assert.equal(placed.osPath, '/oem/extensions/docker-updates/docker-27.3.1-x86-64.raw');
  assert.deepEqual(placed.symlinks, ['/etc/extensions/docker.raw', '/etc/extensions/docker-current.raw']);
  assert.equal(placed.confPath, '/etc/sysupdate.docker.d/docker.conf');
  assert.match(placed.note ?? '', /Target\] Path/);
});

const isInput = (e: unknown) => e instanceof BakeError && e.kind === 'input';

test('paths from a conf that leave their partition, or are not normalised absolute paths, are input errors naming conf and key', () => {
  const refused: Array<[string, RegExp]> = [
    ['CurrentSymlink=/../../../../tmp/victim', /CurrentSymlink=.*not normalised/],
    ['CurrentSymlink=/oem/../../..', /CurrentSymlink=.*not normalised/],
    ['CurrentSymlink=/oem', /CurrentSymlink=\/oem is the root of a partition/],
    ['CurrentSymlink=/', /CurrentSymlink=\/ is the root/],
    ['CurrentSymlink=relative.raw', /CurrentSymlink=relative\.raw is not an absolute path/],
    ['Path=', /Path= is empty/],
    ['Path=/opt/./x', /Path=.*not normalised/],
    ['Path=/usr/lib/extensions', /Path=\/usr\/lib\/extensions is under \/usr/],
    ['Path=/boot/x', /is under \/boot/],
    ['Path=/opt/%T', /% specifiers/],
    ['MatchPattern=../x-@v.raw', /MatchPattern \.\.\/x-@v\.raw is not a file name/],
  ];
  for (const [line, message] of refused) {
    const conf = bakeryConf.replace('CurrentSymlink=/etc/extensions/docker.raw', line);
    assert.throws(
      () => parseSysupdateConf(conf, 'https://bakery.example/docker.conf'),
      (e: unknown) => {
        assert.ok(isInput(e), line);
        assert.match((e as BakeError).message, /^https:\/\/bakery\.example\/docker\.conf:\d+: \[Target\] /, line);
        assert.match((e as BakeError).message, message, line);
        return true;
      },
    );
  }
  assert.equal(
    parseSysupdateConf('[Target]\nPath=//opt//ext/\n', 'x.conf').path,
    '/opt/ext',
    'doubled and trailing slashes are only normalised',
  );
});

test('a conf is parsed strictly: unknown sections and keys, and values bake cannot honour, are refused', () => {
  for (const text of [
    '[Target]\nPath=/opt/x\n[Install]\nWantedBy=x\n',
    '[Target]\nSymlink=/etc/x\n',
    'Path=/opt/x\n',
    '[Target]\nPath /opt/x\n',
    '[Target]\nPath=/opt/\\\nx\n',
    '[Target]\nType=partition\n',
    '[Target]\nPathRelativeTo=esp\n',
  ]) {
    assert.throws(() => parseSysupdateConf(text, 'x.conf'), isInput, text);
  }
  assert.doesNotThrow(() =>
    parseSysupdateConf(`# comment\n; another\n${bakeryConf}\n[Transfer]\nProtectVersion=%A\n`, 'x.conf'),
  );
});

test('--install-to paths outside the partition are usage errors that name the flag as typed, not a conf', () => {
  for (const bad of ['root:/usr/lib', 'root:/boot', 'root:/oem/x', 'oem:/a/../..', 'boot:/x']) {
    assert.throws(
      () => parseInstallTarget(bad),
      (e: unknown) => {
        assert.ok(e instanceof BakeError && e.kind === 'usage', bad);
        assert.match(e.message, /--install-to /, bad);
        assert.doesNotMatch(e.message, /conf/, bad);
        return true;
      },
    );
    assert.throws(
      () => parseInstallTarget(bad, '--install_to'),
      (e: unknown) => {
        assert.ok(e instanceof BakeError);
        assert.match(e.message, /--install_to /, bad);
        assert.doesNotMatch(e.message, /conf/, bad);
        return true;
      },
    );
  }
});

test('file names from a bakery listing or the command line are single path components', () => {
  for (const file of ['', '.', '..', 'a/b.raw']) {
    assert.throws(() => placeSysext('hello', file, parseInstallTarget('root')), isInput, file);
  }
});
