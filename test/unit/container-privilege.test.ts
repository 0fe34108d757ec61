import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createArgs, missingCapabilities, privilegeOptions } from '../../bake/core/container.ts';

test('capabilities missing from the bounding set are named', () => {
  assert.deepEqual(missingCapabilities(0x1ffffffffffn), [], 'a full set (CAP_LAST_CAP 40)');
  assert.deepEqual(missingCapabilities(0x1fffeffffffn), ['SYS_RESOURCE'], 'this kind of VM: bit 24 cleared');
  assert.deepEqual(missingCapabilities(0x1fffefffffen), ['CHOWN', 'SYS_RESOURCE']);
});

test('docker gets every capability by name where --privileged would fail; podman keeps --privileged', () => {
  assert.deepEqual(privilegeOptions('docker', []), ['--privileged']);
  assert.deepEqual(privilegeOptions('podman', ['SYS_RESOURCE']), ['--privileged']);
  assert.deepEqual(privilegeOptions('docker', ['SYS_RESOURCE']), [
    '--cap-add',
    'ALL',
    '--cap-drop',
    'SYS_RESOURCE',
    '--security-opt',
    'apparmor=unconfined',
    '--security-opt',
    'seccomp=unconfined',
    '--device-cgroup-rule',
    'a *:* rwm',
  ]);
  const args = createArgs(
    { image: 'sdk', name: 'bake-1', privileged: true },
    privilegeOptions('docker', ['SYS_RESOURCE']),
  );
  assert.ok(!args.includes('--privileged'));
  assert.deepEqual(args.slice(-2), ['--name=bake-1', 'sdk']);
});
