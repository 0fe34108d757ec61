/**
 * Signed sysexts in a booted guest: a DDI signed by `bake sysext pack --sign`, baked by the real
 * `bake --trust-cert --require-signed-sysexts` with the certificate and the signed-only policy into the
 * bootable fixture (Debian 13's systemd 257 as in stable 4593, the host's kernel with dm-verity, no key
 * enrolled, so systemd checks the signature in userspace against /etc/verity.d), and `bake boot --check`
 * reports, with systemd's reason, that
 * - the signed DDI is merged and its unit runs,
 * - an unsigned sysext is refused by the policy,
 * - a copy of the DDI with one payload byte changed is refused (verity), never merged.
 * bake refuses to bake the last two, so they replace the baked sysext in copies of the baked image, written
 * with bake's own offline ROOT writer: what the booted system does with them is the point.
 * systemd 257 gives up the whole merge on one refused image, so each case boots on its own (three boots).
 */

import assert from 'node:assert/strict';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { createContext } from '../../bake/context.ts';
import { ext4Store } from '../../bake/image/ext4-offline.ts';
import { Ext4Session } from '../../bake/image/ext4-session.ts';
import { findPartition, readGpt } from '../../bake/image/gpt.ts';
import { InRootWriter } from '../../bake/image/in-root.ts';
import { PARTITION_RULES } from '../../bake/image/placement.ts';
import { runBake, type Workspace, workspace } from '../support/bake-cli.ts';
import { bootCheck, HELLO_FILES, qemuLeft } from '../support/boot-cli.ts';
import { bootableDiskOptions } from '../support/fixtures/bootable.ts';
import { tamperedCopy } from '../support/fixtures/repart-ddi.ts';
import { signingCerts } from '../support/fixtures/signing-cert.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror, withTempDir } from '../support/fixtures.ts';

const IMAGE = 'flatcar_production_image.bin';
const HELLO = '/opt/extensions/hello/hello.raw';

/** A copy of the baked image whose `hello` sysext is `ddi` instead. */
async function withHelloReplaced(ws: Workspace, baked: string, ddi: string, name: string): Promise<string> {
  const image = join(ws.dir, name);
  await copyFile(baked, image);
  const ctx = createContext({});
  const root = { image, partition: findPartition(await readGpt(image), 'root', image), label: 'ROOT' };
  await using session = new Ext4Session(ctx, root, { write: true });
  await using writer = new InRootWriter(ext4Store(ctx, session), PARTITION_RULES.root);
  await writer.installFile(ddi, HELLO);
  await writer.flush();
  return image;
}

// Three boots, ~10 min on a slow host, ~20 with every bound reached.
test('signed sysexts under --require-signed-sysexts in a booted guest', { timeout: 40 * 60_000 }, async (t) => {
  const staging = await withTempDir(t, 'bake-boot-signed');
  const fx = await withReleaseMirror(t, {
    releases: [{ version: '4593.2.5', channel: 'stable', arches: ['amd64'], disk: await bootableDiskOptions(staging) }],
    bakery: [],
  });
  const { valid: cert } = await signingCerts(join(staging, 'certs'));
  const ws = await workspace(t, fx.env);
  for (const [path, text] of Object.entries(HELLO_FILES)) {
    await mkdir(dirname(join(ws.dir, 'tree', path)), { recursive: true });
    await writeFile(join(ws.dir, 'tree', path), text, { mode: 0o755 });
  }
  const pack = ['sysext', 'pack', 'tree', 'hello', '--os', 'flatcar', '--sign', '--key', cert.key, '--cert', cert.cert];
  const packed = await runBake(ws, [...pack, '--output-dir', 'signed']);
  assert.equal(packed.exitCode, 0, packed.stderr);
  const signed = join(ws.dir, 'signed/hello.raw');
  const tampered = join(staging, 'hello-tampered.raw');
  await tamperedCopy(signed, tampered);
  const unsigned = join(staging, 'hello-unsigned.raw');
  await makeSysextImage(unsigned, { name: 'hello', arch: 'x86-64', id: 'flatcar', files: HELLO_FILES });

  const bakeArgs = ['--release', '4593.2.5', '--trust-cert', cert.cert, '--require-signed-sysexts'];
  const baked = await runBake(ws, [...bakeArgs, '--output', 'out', `hello:${signed}`]);
  assert.equal(baked.exitCode, 0, baked.stderr);
  const bakedImage = join(ws.out, IMAGE);
  const refused = await runBake(ws, [...bakeArgs, '--output', 'refused', `hello:${tampered}`]);
  assert.equal(refused.exitCode, 6, `bake itself refuses the tampered DDI: ${refused.stderr}`);

  await t.test('the unsigned sysext is refused by the image policy', async (t) => {
    const image = await withHelloReplaced(ws, bakedImage, unsigned, 'unsigned.bin');
    const { exitCode, report } = await bootCheck(ws, image, ['--extension', 'hello']);
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
    const { exitCode, report, stderr } = await bootCheck(ws, bakedImage, ['--extension', 'hello']);
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
      // dm-verity fails the read of the changed block: systemd 257 says so after activation, or as EIO when
      // the block is the one holding the extension's metadata (squashfs keeps it in the first block).
      /^not merged by systemd-sysext \(systemd-sysext\.service failed: (Verity device detected corruption|Failed to read metadata for image hello: Input\/output error)/,
      report.sysextLog.join('\n'),
    );
    assert.equal(await qemuLeft(), '');
  });
});
