/** extension-release, sysupdate configs and checksum-file parsing: the bakery's exact names and contents. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findChecksum } from '../../bake/core/checksums.ts';
import { parseKeyValueFile } from '../../bake/core/key-value.ts';
import { outputFileName } from '../../bake/sysext/create.ts';
import { extensionReleaseText } from '../../bake/sysext/release.ts';
import { minorPrefix, sysupdateConfs } from '../../bake/sysext/sysupdate.ts';

test('extension-release: _any has no SYSEXT_LEVEL, a named OS does, reload adds EXTENSION_RELOAD_MANAGER', () => {
  assert.equal(
    extensionReleaseText({ name: 'x', arch: 'arm64', os: '_any', reload: false }),
    'ID=_any\nARCHITECTURE=arm64\n',
  );
  assert.equal(
    extensionReleaseText({ name: 'x', arch: 'x86-64', os: 'flatcar', reload: true }),
    'ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\nEXTENSION_RELOAD_MANAGER=1\n',
  );
  assert.deepEqual(parseKeyValueFile('ID="flatcar"\n# c\nSYSEXT_LEVEL=1.0\n'), { ID: 'flatcar', SYSEXT_LEVEL: '1.0' });
});

test('sysupdate: <name>.conf follows every release, in the bakery template', () => {
  const [conf, ...rest] = sysupdateConfs({
    name: 'docker',
    version: '27.3.1',
    bakeryUrl: 'https://extensions.flatcar.org/extensions/',
    verify: false,
    patchLevel: false,
  });
  assert.equal(rest.length, 0);
  assert.equal(conf!.fileName, 'docker.conf');
  assert.equal(
    conf!.text,
    [
      '[Transfer]',
      'Verify=false',
      '',
      '[Source]',
      'Type=url-file',
      'Path=https://extensions.flatcar.org/extensions/docker/',
      'MatchPattern=docker-@v-%a.raw',
      '',
      '[Target]',
      'InstancesMax=3',
      'Type=regular-file',
      'Path=/opt/extensions/docker',
      'CurrentSymlink=/etc/extensions/docker.raw',
      '',
    ].join('\n'),
  );
});

test('sysupdate: patch-level conf for the k8s family keeps the <name>.raw symlink (bakery issue #140)', () => {
  const confs = sysupdateConfs({
    name: 'k3s',
    version: 'v1.31.4+k3s1',
    bakeryUrl: 'https://b.example/ext',
    verify: true,
    patchLevel: true,
  });
  assert.deepEqual(
    confs.map((c) => c.fileName),
    ['k3s.conf', 'k3s-v1.31.conf'],
  );
  assert.match(confs[1]!.text, /^MatchPattern=k3s-v1\.31\.@v-%a\.raw$/m);
  assert.match(confs[1]!.text, /^CurrentSymlink=\/etc\/extensions\/k3s\.raw$/m);
  assert.match(confs[1]!.text, /^Path=https:\/\/b\.example\/ext\/k3s\/$/m);
  for (const conf of confs) assert.match(conf.text, /^Verify=yes$/m);
  assert.equal(minorPrefix('1.2'), undefined);
});

test('checksum files: bare hash, sha256sum text and binary mode, ./paths, and missing entries', () => {
  const hash = 'a'.repeat(64);
  assert.equal(findChecksum(`${hash}\n`, 'kubectl'), hash);
  assert.equal(findChecksum(`${'b'.repeat(64)}  other\n${hash}  k3s\n`, 'k3s'), hash);
  assert.equal(findChecksum(`${hash} *docker-compose-linux-x86_64\n`, 'docker-compose-linux-x86_64'), hash);
  assert.equal(findChecksum(`${hash}  ./ollama-linux-amd64.tgz\n`, 'ollama-linux-amd64.tgz'), hash);
  assert.equal(findChecksum(`${hash}  k3s-arm64\n${'c'.repeat(64)}  k3s-airgap\n`, 'k3s'), undefined);
});

test('output file names get .raw once and must not be paths', () => {
  assert.equal(outputFileName('docker'), 'docker.raw');
  assert.equal(outputFileName('docker', 'docker-27.3.1-x86-64'), 'docker-27.3.1-x86-64.raw');
  assert.equal(outputFileName('docker', 'd.raw'), 'd.raw');
  assert.throws(() => outputFileName('docker', '../d'), /must be a file name/);
});
