import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  SIGNED_ONLY_POLICY,
  signedOnlyPolicyFile,
  systemdVersionFrom,
  trustProblem,
} from '../../bake/flatcar/usr-systemd.ts';

test('the systemd version comes from the libsystemd-shared file name, however the distribution tags it', () => {
  assert.equal(systemdVersionFrom(['systemd', 'libsystemd-shared-257.so', 'libsystemd-core-257.so']), 257);
  assert.equal(systemdVersionFrom(['libsystemd-shared-257.9.so']), 257);
  assert.equal(systemdVersionFrom(['libsystemd-shared-255.8-r1.so']), 255);
  assert.equal(systemdVersionFrom(['libsystemd-shared-260~rc1.so']), 260);
  assert.equal(systemdVersionFrom(['libsystemd-shared.so', 'libsystemd-shared-x.so', 'systemd-sysext']), undefined);
});

test('the policy is a service drop-in up to systemd 258 and sysext.conf.d from 259', () => {
  for (const version of [254, 257, 258]) {
    const file = signedOnlyPolicyFile(version);
    assert.match(file.path, /^\/etc\/systemd\/system\/systemd-sysext\.service\.d\/[\w-]+\.conf$/);
    assert.match(file.text, /^\[Service\]\nExecStart=\nExecStart=systemd-sysext refresh --image-policy=/);
    assert.match(file.text, /\nExecReload=\nExecReload=systemd-sysext refresh --image-policy=/);
  }
  for (const version of [259, 260]) {
    assert.deepEqual(signedOnlyPolicyFile(version), {
      path: '/etc/systemd/sysext.conf.d/50-bake-require-signed.conf',
      text: `[SysExt]\nImagePolicy=${SIGNED_ONLY_POLICY}\n`,
    });
  }
  assert.equal(SIGNED_ONLY_POLICY, 'root=signed+absent:usr=signed+absent');
});

test('what a release cannot honour', () => {
  const facts = { systemd: 257, usrCertificates: [] as string[], ownSysexts: [] as string[] };
  const certOnly = { certificateNames: ['fleet'], requireSigned: false };
  const strict = { certificateNames: ['fleet'], requireSigned: true };
  assert.equal(trustProblem(facts, strict), undefined);
  assert.match(trustProblem({ ...facts, systemd: undefined }, certOnly) ?? '', /systemd version is unknown/);
  assert.match(trustProblem({ ...facts, systemd: 249 }, certOnly) ?? '', /checks no sysext signatures/);
  assert.equal(trustProblem({ ...facts, systemd: 252 }, certOnly), undefined);
  assert.match(trustProblem({ ...facts, systemd: 253 }, strict) ?? '', /no image policies/);
  const unsignedOwn = { ...facts, ownSysexts: ['docker-flatcar.raw', 'containerd-flatcar.raw'] };
  assert.equal(trustProblem(unsignedOwn, certOnly), undefined);
  assert.match(trustProblem(unsignedOwn, strict) ?? '', /own sysexts .* are unsigned/);
  const signedOwn = { ...unsignedOwn, systemd: 260, usrCertificates: ['sysexts.crt'] };
  assert.equal(trustProblem(signedOwn, strict), undefined);
  assert.match(
    trustProblem(signedOwn, { certificateNames: ['sysexts'], requireSigned: false }) ?? '',
    /would hide the release's own/,
  );
});
