/**
 * The DDI writer's pure parts and its checks: the layout against what systemd-repart 257 wrote for the same
 * sizes, derived UUIDs, the sgdisk arguments, the signature partition, the flag rules and the key and
 * certificate checks (with the openssl-made fixtures).
 */

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { BakeError } from '../../bake/core/errors.ts';
import { DDI_SIGNATURE_PARTITION_BYTES } from '../../bake/sysext/ddi-layout.ts';
import { checkDdi, checkSigning, ddiFromFlags } from '../../bake/sysext/ddi-signing.ts';
import { ddiLayout, derivedUuid, sgdiskArgs, signaturePartition } from '../../bake/sysext/ddi-write.ts';
import { type SigningCerts, signingCerts } from '../support/fixtures/signing-cert.ts';

let work: string;
let certs: SigningCerts;
const NOW = new Date('2026-12-01T00:00:00Z');
const ROOT_HASH = '6548cdf8a121d43ce8ee91d2332a6d28015a0b47098115187f3223a6ea0341ab';

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'ddi-write-'));
  certs = await signingCerts(join(work, 'certs'));
});

after(() => rm(work, { recursive: true, force: true }));

const ofKind = (kind: string) => (error: unknown) => error instanceof BakeError && error.kind === kind;

test('the layout is the one systemd-repart --make-ddi=sysext wrote for the same partition sizes', () => {
  // Measured: systemd-repart 257.13 (Debian 13), payload 516096 bytes, hash 520192 bytes, signed.
  const layout = ddiLayout([
    { role: 'root', bytes: 516096 },
    { role: 'root-verity', bytes: 520192 },
    { role: 'root-verity-sig', bytes: DDI_SIGNATURE_PARTITION_BYTES },
  ]);
  assert.deepEqual(
    layout.partitions.map(({ firstSector, sectors }) => [firstSector, firstSector + sectors - 1]),
    [
      [40, 1047],
      [1048, 2063],
      [2064, 2095],
    ],
  );
  assert.equal(layout.diskBytes, 1093632);
});

test('derived UUIDs are version 4 shaped, stable, and differ by purpose and input', () => {
  const uuid = derivedUuid('disk', ROOT_HASH);
  assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(derivedUuid('disk', ROOT_HASH), uuid);
  assert.notEqual(derivedUuid('signature partition', ROOT_HASH), uuid);
  assert.notEqual(derivedUuid('disk', ROOT_HASH.replace('6', '7')), uuid);
});

test('sgdisk gets types, labels, root hash UUIDs and read-only flags per partition (arm64)', () => {
  const layout = ddiLayout([
    { role: 'root', bytes: 8192 },
    { role: 'root-verity', bytes: 4096 },
  ]);
  const args = sgdiskArgs('arm64', layout, ROOT_HASH);
  for (const expected of [
    '--set-alignment=8',
    '--new=1:40:55',
    '--typecode=1:b921b045-1df0-41c3-af44-4c6f280d3fae',
    '--partition-guid=1:6548cdf8-a121-d43c-e8ee-91d2332a6d28',
    '--change-name=1:root-arm64',
    '--attributes=1:set:60',
    '--new=2:56:63',
    '--typecode=2:df3300ce-d69f-4c92-978c-9bfb0f38d820',
    '--partition-guid=2:015a0b47-0981-1518-7f32-23a6ea0341ab',
    '--change-name=2:root-arm64-verity',
    '--attributes=2:set:60',
  ])
    assert.ok(args.includes(expected), `${expected} in ${args.join(' ')}`);
  assert.ok(!args.some((arg) => arg.startsWith('--new=3')), 'no signature partition unless signed');
});

test('the signature partition is compact JSON, NUL-padded to 16 KiB; an oversized one is refused', () => {
  const signature = { rootHash: ROOT_HASH, certificateFingerprint: 'ab'.repeat(32), signature: 'c2lnbmF0dXJl' };
  const partition = signaturePartition(signature);
  assert.equal(partition.length, DDI_SIGNATURE_PARTITION_BYTES);
  const json = JSON.stringify(signature);
  assert.equal(partition.toString('utf8', 0, json.length), json);
  assert.ok(partition.subarray(json.length).every((byte) => byte === 0));
  assert.throws(() => signaturePartition({ ...signature, signature: 'A'.repeat(17000) }), ofKind('input'));
});

test('--sign needs both files, the files need --sign, --verity alone is an unsigned DDI', () => {
  assert.deepEqual(ddiFromFlags({ sign: true, key: 'k.pem', cert: 'c.pem' }), {
    signing: { key: 'k.pem', cert: 'c.pem' },
  });
  assert.deepEqual(ddiFromFlags({ verity: true }), {});
  assert.equal(ddiFromFlags({}), undefined);
  for (const flags of [
    { sign: true, key: 'k.pem' },
    { sign: true, cert: 'c.pem' },
    { key: 'k.pem' },
    { cert: 'c.pem' },
  ])
    assert.throws(() => ddiFromFlags(flags), ofKind('usage'), JSON.stringify(flags));
});

test('a DDI carries squashfs or erofs, never a writable filesystem', async () => {
  for (const format of ['ext4', 'ext2', 'btrfs'] as const) await assert.rejects(checkDdi({}, format), ofKind('usage'));
  assert.deepEqual(await checkDdi({}, 'erofs'), {});
});

test('the certificate fingerprint is the sha256 of its DER encoding', async () => {
  const checked = await checkSigning(certs.valid, NOW);
  const der = (await execa('openssl', ['x509', '-in', certs.valid.cert, '-outform', 'DER'], { encoding: 'buffer' }))
    .stdout;
  const { createHash } = await import('node:crypto');
  assert.equal(checked.certificateFingerprint, createHash('sha256').update(der).digest('hex'));
});

test('bad keys and certificates are input errors, checked before anything is built', async () => {
  const der = join(work, 'valid.cert.der');
  await execa('openssl', ['x509', '-in', certs.valid.cert, '-outform', 'DER', '-out', der]);
  const notAKey = join(work, 'not-a-key.pem');
  await writeFile(notAKey, 'hello\n');
  const cases = {
    'missing key': { key: join(work, 'missing.pem'), cert: certs.valid.cert },
    'key is text': { key: notAKey, cert: certs.valid.cert },
    'key is a certificate': { key: certs.valid.cert, cert: certs.valid.cert },
    'missing cert': { key: certs.valid.key, cert: join(work, 'missing.pem') },
    'cert in DER': { key: certs.valid.key, cert: der },
    'cert is a key': { key: certs.valid.key, cert: certs.valid.key },
    'cert of another key': certs.mismatched,
    expired: certs.expired,
    'not valid yet': certs.notYetValid,
  };
  for (const [name, files] of Object.entries(cases))
    await assert.rejects(checkSigning(files, NOW), ofKind('input'), name);
});

test('bake name@version --sign carries the request to the recipe builds; without one it is a usage error', async () => {
  const { parseBakeRequest } = await import('../../bake/pipeline/plan.ts');
  const request = parseBakeRequest(['docker@27.3.1'], { sign: true, key: 'k.pem', cert: 'c.pem' }, work);
  assert.deepEqual(request.ddi, { signing: { key: 'k.pem', cert: 'c.pem' } });
  assert.equal(parseBakeRequest(['docker@27.3.1'], {}, work).ddi, undefined);
  assert.throws(() => parseBakeRequest(['docker:docker.raw'], { verity: true }, work), ofKind('usage'));
});
