import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closest, editDistance } from '../../bake/core/suggest.ts';

test('edit distance counts a swap of neighbours as one edit', () => {
  assert.equal(editDistance('azrue', 'azure'), 1);
  assert.equal(editDistance('ignitoin', 'ignition'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('', 'abc'), 3);
});

test('closest finds near misses and spellings that differ in case, - and _', () => {
  const vendors = ['azure', 'ami', 'ami_vmdk', 'qemu_uefi', 'gce', 'openstack'];
  assert.equal(closest('azrue', vendors), 'azure');
  assert.equal(closest('qemu-uefi', vendors), 'qemu_uefi');
  assert.equal(closest('QEMU_UEFI', vendors), 'qemu_uefi');
  assert.equal(closest('openstak', vendors), 'openstack');
  assert.equal(closest('vendor', ['vendors', 'sysext', 'boot']), 'vendors');
  assert.equal(closest('ignitoin', ['ignition', 'butane']), 'ignition');
});

test('closest gives nothing for names far from every candidate', () => {
  assert.equal(closest('kubernetes', ['azure', 'gce']), undefined);
  assert.equal(closest('x', ['azure']), undefined);
});
