/**
 * Signed sysexts in a booted guest: the real `bake --trust-cert --require-signed-sysexts` bakes the
 * certificate and the signed-only policy into the bootable fixture (Debian 13's systemd 257 as in stable
 * 4593, the host's kernel with dm-verity, no key enrolled, so systemd checks the signature in userspace
 * against /etc/verity.d), and `bake boot --check` reports, with systemd's reason, that
 * - an unsigned sysext is refused by the policy,
 * - the signed DDI is merged and its unit runs,
 * - a copy of that DDI with one payload byte changed is refused (verity), never merged.
 * systemd 257 gives up the whole merge on one refused image, so each case boots on its own (three boots).
 * Until bake installs DDIs itself, the DDIs replace the baked sysext in copies of the baked image, written
 * with bake's own offline ROOT writer.
 */

import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createContext } from '../../bake/context.ts';
import { ext4Store } from '../../bake/image/ext4-offline.ts';
import { findPartition, readGpt } from '../../bake/image/gpt.ts';
import { InRootWriter } from '../../bake/image/in-root.ts';
import { PARTITION_RULES } from '../../bake/image/placement.ts';
import { runBake, type Workspace, workspace } from '../support/bake-cli.ts';
import { bootCheck, qemuLeft, serviceFiles } from '../support/boot-cli.ts';
import { bootableDiskOptions } from '../support/fixtures/bootable.ts';
import { makeSignedDdi, tamperedCopy } from '../support/fixtures/signed-ddi.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { makeVerityCert } from '../support/fixtures/verity-cert.ts';
import { withReleaseMirror, withTempDir } from '../support/fixtures.ts';

const IMAGE = 'flatcar_production_image.bin';
const HELLO = '/opt/extensions/hello/hello.raw';
const FILES = {
  'usr/bin/hello-mark': '#!/bin/sh\necho hello > /run/hello-mark\n',
  ...serviceFiles('hello', '/usr/bin/hello-mark'),
};

/** A copy of the baked image whose `hello` sysext is `ddi` instead. */
async function withHelloReplaced(ws: Workspace, baked: string, ddi: string, name: string): Promise<string> {
  const image = join(ws.dir, name);
  await copyFile(baked, image);
  const ctx = createContext({});
  const root = { image, partition: findPartition(await readGpt(image), 'root', image), label: 'ROOT' };
  await new InRootWriter(ext4Store(ctx, root), PARTITION_RULES.root).installFile(ddi, HELLO);
  return image;
}

// Three boots, ~10 min on a slow host, ~20 with every bound reached.
test('signed sysexts under --require-signed-sysexts in a booted guest', { timeout: 40 * 60_000 }, async (t) => {
  const staging = await withTempDir(t, 'bake-boot-signed');
  const fx = await withReleaseMirror(t, {
    releases: [{ version: '4593.2.5', channel: 'stable', arches: ['amd64'], disk: await bootableDiskOptions(staging) }],
    bakery: [],
  });
  const cert = await makeVerityCert(staging, 'fleet');
  const signed = join(staging, 'hello-signed.raw');
  await makeSignedDdi(signed, { name: 'hello', files: FILES, cert });
  const tampered = join(staging, 'hello-tampered.raw');
  await tamperedCopy(signed, tampered);

  const ws = await workspace(t, fx.env);
  await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64', id: 'flatcar', files: FILES });
  const bakeArgs = ['--release', '4593.2.5', '--trust-cert', cert.cert, '--require-signed-sysexts'];
  const baked = await runBake(ws, [...bakeArgs, '--output', 'out', 'hello:hello.raw']);
  assert.equal(baked.exitCode, 0, baked.stderr);
  const bakedImage = join(ws.out, IMAGE);

  await t.test('the unsigned sysext is refused by the image policy', async (t) => {
    const { exitCode, report } = await bootCheck(ws, bakedImage, ['--extension', 'hello']);
    assert.equal(exitCode, 9, JSON.stringify(report, null, 2));
    assert.equal(report.problem, undefined, 'the guest reported');
    const hello = report.extensions.find((extension) => extension.name === 'hello');
    t.diagnostic(`${hello?.problem}; sysext log: ${report.sysextLog.join(' | ')}`);
    assert.equal(hello?.merged, false);
    assert.match(
      hello?.problem ?? '',
      /^not merged by systemd-sysext \(systemd-sysext\.service failed: \/etc\/extensions\/hello\.raw: Image does not match image policy/,
      report.sysextLog.join('\n'),
    );
  });

  await t.test('the signed DDI is merged and its unit runs', async () => {
    const image = await withHelloReplaced(ws, bakedImage, signed, 'signed.bin');
    const { exitCode, report, stderr } = await bootCheck(ws, image, ['--extension', 'hello']);
    assert.equal(exitCode, 0, `${stderr}\n${JSON.stringify(report, null, 2)}`);
    const hello = report.extensions.find((extension) => extension.name === 'hello');
    assert.deepEqual(
      [hello?.merged, hello?.image, hello?.units.map((unit) => [unit.unit, unit.ok])],
      [true, HELLO, [['hello.service', true]]],
    );
  });

  await t.test('a DDI with one payload byte changed is refused, never merged', async (t) => {
    const image = await withHelloReplaced(ws, bakedImage, tampered, 'tampered.bin');
    const { exitCode, report } = await bootCheck(ws, image, ['--extension', 'hello']);
    assert.equal(exitCode, 9, JSON.stringify(report, null, 2));
    const hello = report.extensions.find((extension) => extension.name === 'hello');
    t.diagnostic(`${hello?.problem}; sysext log: ${report.sysextLog.join(' | ')}`);
    assert.equal(hello?.merged, false);
    assert.match(
      hello?.problem ?? '',
      /^not merged by systemd-sysext \(systemd-sysext\.service failed: Verity device detected corruption/,
      report.sysextLog.join('\n'),
    );
    assert.equal(await qemuLeft(), '');
  });
});
