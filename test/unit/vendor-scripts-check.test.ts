/**
 * `bake vendors --release R --check`: the table against a release's vm_image_util.sh. The tree is a
 * generated STAND-IN (test/support/fixtures/vm-image-util.ts) written from the table, so it matches, then
 * edited to make known differences, which must be reported exactly.
 */

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashFile } from '../../bake/core/checksums.ts';
import { compareWithScripts, parseVmImageUtil } from '../../bake/vendor/scripts-check.ts';
import { assertOneLineError, runBake, workspace } from '../support/bake-cli.ts';
import { scriptsTarball, vmImageUtilStandin } from '../support/fixtures/vm-image-util.ts';

const ERAS = ['4081.3.10', '4230.2.1', '4344.1.0', '4459.1.1', '4593.2.5', '4628.1.0', '4722.0.0', '4790.0.0'];

test('a vm_image_util.sh that says what the table says has no differences, in every era', () => {
  for (const version of ERAS)
    assert.deepEqual(compareWithScripts(parseVmImageUtil(vmImageUtilStandin(version)), version), [], version);
});

test('the parser applies IMG_DEFAULT_*, reads OEM sysexts, packages and the ami_vmdk typo', () => {
  const formats = parseVmImageUtil(vmImageUtilStandin('4593.2.5'));
  assert.deepEqual(formats.get('vmware_raw'), {
    disk: 'raw',
    layout: 'base',
    extension: 'bin',
    oem: 'vmware',
    oemSysext: true,
  });
  assert.deepEqual(formats.get('ami_vmdk'), {
    disk: 'vmdk_stream',
    layout: 'vm',
    extension: 'vmdk',
    oem: 'ami',
    oemSysext: false,
  });
  assert.deepEqual(formats.get('cloudsigma'), {
    disk: 'qcow2',
    layout: 'base',
    extension: 'img',
    oem: 'cloudsigma',
    oemSysext: false,
  });
  assert.deepEqual(formats.get('xen'), { disk: 'raw', layout: 'base', extension: 'bin', oemSysext: false });
});

/** 4344.1.0 as if stackit had been in it, exoscale were Era C's, hyperv a sysext and packet gone. */
function editedStandin(): string {
  return vmImageUtilStandin('4344.1.0')
    .replace('VALID_IMG_TYPES=(\n', 'VALID_IMG_TYPES=(\n    stackit\n')
    .replace('    packet\n', '')
    .replace('IMG_exoscale_DISK_FORMAT=qcow2', 'IMG_exoscale_DISK_FORMAT=exoscale\nIMG_exoscale_DISK_EXTENSION=qcow2')
    .replace('IMG_hyperv_OEM_PACKAGE=oem-hyperv', 'IMG_hyperv_OEM_USE=hyperv\nIMG_hyperv_OEM_SYSEXT=oem-hyperv')
    .concat('IMG_stackit_DISK_FORMAT=qcow2\nIMG_stackit_DISK_LAYOUT=vm\nIMG_stackit_OEM_SYSEXT=oem-stackit\n');
}

const EDITED_DIFFERENCES = [
  'stackit: in VALID_IMG_TYPES, not in the table for 4344.1.0',
  'exoscale: disk is exoscale in vm_image_util.sh, qcow2 in the table',
  'exoscale: extension is qcow2 in vm_image_util.sh, img in the table',
  'hyperv: oemSysext is true in vm_image_util.sh, false in the table',
  'packet: in the table for 4344.1.0, not in VALID_IMG_TYPES',
];

test('each known difference is reported once, in one line', () => {
  assert.deepEqual(
    compareWithScripts(parseVmImageUtil(editedStandin()), '4344.1.0').sort(),
    [...EDITED_DIFFERENCES].sort(),
  );
});

test('bake vendors --check fetches the release tree: differences exit 6 (verify), a match exits 0, a symlink is refused', async (t) => {
  const ws = await workspace(t);
  const releasesJson = join(ws.dir, 'releases.json');
  // The releases are listed, so resolving them needs no release server (this test has none).
  const listed = (channel: string) => ({
    channel,
    architectures: ['amd64', 'arm64'],
    release_date: '2026-01-01 00:00:00 +0000',
    major_software: {},
    release_notes: '',
  });
  await writeFile(
    releasesJson,
    JSON.stringify({ '4344.1.0': listed('beta'), '4593.2.5': listed('stable'), '4790.0.0': listed('alpha') }),
  );
  const tarballs = join(ws.dir, 'scripts');
  await scriptsTarball(join(tarballs, 'beta-4344.1.0.tar.gz'), 'beta-4344.1.0', {
    'build_library/vm_image_util.sh': editedStandin(),
  });
  await scriptsTarball(join(tarballs, 'stable-4593.2.5.tar.gz'), 'stable-4593.2.5', {
    'build_library/vm_image_util.sh': vmImageUtilStandin('4593.2.5'),
  });
  await scriptsTarball(join(tarballs, 'alpha-4790.0.0.tar.gz'), 'alpha-4790.0.0', {
    'build_library/vm_image_util.sh': { symlinkTo: '/etc/hostname' },
  });
  const env = {
    BAKE_RELEASES_JSON: releasesJson,
    BAKE_SCRIPTS_TARBALL_URL: `file://${tarballs}/{tag}.tar.gz`,
    BAKE_CACHE_DIR: join(ws.dir, 'cache'),
  };

  // Stand-ins for real tags: they cannot hold the pinned trees, so each run names its tarball's digest.
  const pin = async (tag: string) => ['--scripts-sha256', await hashFile(join(tarballs, `${tag}.tar.gz`), 'sha256')];
  const differs = await runBake(
    ws,
    ['vendors', '--release', '4344.1.0', '--check', ...(await pin('beta-4344.1.0'))],
    env,
  );
  assert.equal(differs.exitCode, 6, differs.stderr);
  assertOneLineError(differs, /^bake: the vendor table differs from flatcar\/scripts beta-4344\.1\.0: /);
  for (const line of EDITED_DIFFERENCES) assert.ok(differs.stderr.includes(line), line);

  const matches = await runBake(
    ws,
    ['vendors', '--release', '4593.2.5', '--check', '--json', ...(await pin('stable-4593.2.5'))],
    env,
  );
  assert.equal(matches.exitCode, 0, matches.stderr);
  assert.deepEqual(JSON.parse(matches.stdout).check, { tag: 'stable-4593.2.5', formats: 38, differences: [] });

  const symlinked = await runBake(
    ws,
    ['vendors', '--release', '4790.0.0', '--check', ...(await pin('alpha-4790.0.0'))],
    env,
  );
  assert.equal(symlinked.exitCode, 3, symlinked.stderr);
  assertOneLineError(symlinked, /has no build_library\/vm_image_util\.sh \(or it is a symlink\)/);

  const noRelease = await runBake(ws, ['vendors', '--check'], env);
  assert.equal(noRelease.exitCode, 2);
});
