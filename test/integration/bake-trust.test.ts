/**
 * `bake --trust-cert` and `--require-signed-sysexts` with the real CLI against a local release mirror:
 * the certificate lands on ROOT as /etc/verity.d/<name>.crt, the signed-only policy in the form the
 * release's systemd (read from its USR) reads, and every input systemd would ignore or could not honour
 * is refused before anything is written.
 */

import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  assertNothingLeft,
  assertOneLineError,
  mountImage,
  runBake,
  type Workspace,
  workspace,
} from '../support/bake-cli.ts';
import { certNamed, derOf, signingCerts } from '../support/fixtures/signing-cert.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror, withTempDir } from '../support/fixtures.ts';
import { assertJsonOutput } from '../support/json-schemas.ts';
import { startUpstream } from '../support/upstream.ts';

const IMAGE = 'flatcar_production_image.bin';
const POLICY = 'root=signed+absent:usr=signed+absent';
const DROP_IN = '/etc/systemd/system/systemd-sysext.service.d/50-bake-require-signed.conf';
/** The plan's `trust`, as far as the test reads it. */
interface TrustJson {
  certificates: Array<{ path: string; from: string; fingerprint: string }>;
  requireSigned: boolean;
  policy: { policy: string };
}
const SYSEXT_CONF = '/etc/systemd/sysext.conf.d/50-bake-require-signed.conf';

/** A USR tree for a release: its own sysexts and, when they are signed, their certificate. */
async function usrTree(dir: string, own: { sysexts: boolean; signed: boolean }): Promise<string> {
  if (own.sysexts) {
    await mkdir(join(dir, 'share/flatcar/sysext'), { recursive: true });
    await writeFile(join(dir, 'share/flatcar/sysext/docker-flatcar.raw'), 'not a real sysext');
  }
  if (own.signed) {
    await mkdir(join(dir, 'lib/verity.d'), { recursive: true });
    await writeFile(join(dir, 'lib/verity.d/sysexts.crt'), 'the release its own certificate');
  }
  return dir;
}

test('bake --trust-cert / --require-signed-sysexts', async (t) => {
  const trees = await withTempDir(t, 'bake-trust-usr');
  const fx = await withReleaseMirror(t, {
    releases: [
      { version: '4593.2.5', channel: 'stable', arches: ['amd64'] },
      {
        version: '4757.1.0',
        channel: 'beta',
        arches: ['amd64'],
        disk: {
          systemdVersion: '260.1',
          usrTree: await usrTree(join(trees, 'beta'), { sysexts: true, signed: true }),
        },
      },
      {
        version: '4459.2.0',
        channel: 'stable',
        arches: ['amd64'],
        disk: { usrTree: await usrTree(join(trees, 'unsigned-own'), { sysexts: true, signed: false }) },
      },
      {
        version: '3760.2.0',
        channel: 'lts',
        arches: ['amd64'],
        disk: { systemdVersion: '252.22', usrFilesystem: 'ext2' },
      },
    ],
    bakery: [],
  });
  const certs = await withTempDir(t, 'bake-trust-certs');
  const pairs = await signingCerts(certs);
  const good = await certNamed(pairs.valid, certs, 'fleet');
  // The sysext every bake here installs: signed by `good`, as --require-signed-sysexts demands.
  const packer = await workspace(t, fx.env);
  await mkdir(join(packer.dir, 'tree/usr/share/hello'), { recursive: true });
  await writeFile(join(packer.dir, 'tree/usr/share/hello/mark'), 'hello\n');
  const pack = ['sysext', 'pack', 'tree', 'hello', '--sign', '--key', good.key, '--cert', good.cert];
  const packed = await runBake(packer, [...pack, '--output-dir', packer.dir]);
  assert.equal(packed.exitCode, 0, packed.stderr);

  const prepared = async (t: Parameters<typeof workspace>[0]): Promise<Workspace> => {
    const ws = await workspace(t, fx.env);
    await copyFile(join(packer.dir, 'hello.raw'), join(ws.dir, 'hello.raw'));
    return ws;
  };

  await t.test(
    'installs the certificate and, for systemd 257, the policy as a systemd-sysext.service drop-in',
    async (t) => {
      const ws = await prepared(t);
      const args = ['--release', '4593.2.5', '--trust-cert', good.cert, '--require-signed-sysexts'];
      const plan = await runBake(ws, [...args, '--dry-run', '--json', 'hello:hello.raw']);
      assert.equal(plan.exitCode, 0, plan.stderr);
      const planned = assertJsonOutput('bake-plan', plan.stdout).trust as TrustJson;
      assert.deepEqual(
        [planned.certificates[0].path, planned.certificates[0].from, planned.requireSigned, planned.policy.policy],
        ['/etc/verity.d/fleet.crt', good.cert, true, POLICY],
      );
      assert.match(planned.certificates[0].fingerprint, /^[0-9a-f]{64}$/);
      const text = await runBake(ws, [...args, '--dry-run', 'hello:hello.raw']);
      assert.match(text.stdout, /ROOT\s+\/etc\/verity\.d\/fleet\.crt\s+\S*fleet\.pem/);
      assert.match(
        text.stdout,
        /ROOT\s+\S+systemd-sysext\.service\.d\S+ \(systemd < 259\) or \S+sysext\.conf\.d\S+\s+image policy root=signed\+absent:usr=signed\+absent/,
      );

      const run = await runBake(ws, [...args, '--json', '--output', 'out', 'hello:hello.raw']);
      assert.equal(run.exitCode, 0, run.stderr);
      assert.deepEqual(assertJsonOutput('bake', run.stdout).trust, {
        systemd: 257,
        files: ['/etc/verity.d/fleet.crt', DROP_IN],
      });
      await assertNothingLeft(ws, [IMAGE]);
      const { root } = await mountImage(t, join(ws.out, IMAGE));
      const installed = join(root, 'etc/verity.d/fleet.crt');
      assert.equal(await readFile(installed, 'utf8'), await readFile(good.cert, 'utf8'));
      const info = await stat(installed);
      assert.deepEqual([info.mode & 0o777, info.uid, info.gid], [0o644, 0, 0]);
      assert.equal(
        await readFile(join(root, DROP_IN), 'utf8'),
        `[Service]\nExecStart=\nExecStart=systemd-sysext refresh --image-policy=${POLICY}\nExecReload=\nExecReload=systemd-sysext refresh --image-policy=${POLICY}\n`,
      );
    },
  );

  await t.test('for systemd 260 the policy goes to sysext.conf.d', async (t) => {
    const ws = await prepared(t);
    const run = await runBake(ws, [
      '--release',
      '4757.1.0',
      '--trust-cert',
      good.cert,
      '--require-signed-sysexts',
      '--output',
      'out',
      'hello:hello.raw',
    ]);
    assert.equal(run.exitCode, 0, run.stderr);
    const { root } = await mountImage(t, join(ws.out, IMAGE));
    assert.equal(await readFile(join(root, SYSEXT_CONF), 'utf8'), `[SysExt]\nImagePolicy=${POLICY}\n`);
    await assert.rejects(stat(join(root, DROP_IN)), 'no drop-in where sysext.conf.d is read');
  });

  await t.test('--trust-cert alone installs the certificate and no policy', async (t) => {
    const ws = await prepared(t);
    const run = await runBake(ws, ['--trust-cert', good.cert, '--json', '--output', 'out', 'hello:hello.raw']);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).trust, { systemd: 257, files: ['/etc/verity.d/fleet.crt'] });
  });

  /** A refused bake: its exit code, a one-line error, and nothing left behind. */
  const refused = async (t: Parameters<typeof workspace>[0], args: string[], exitCode: number, pattern: RegExp) => {
    const ws = await prepared(t);
    const run = await runBake(ws, [...args, '--output', 'out', 'hello:hello.raw']);
    assert.equal(run.exitCode, exitCode, run.stderr);
    assertOneLineError(run, pattern);
    await assertNothingLeft(ws);
    return run;
  };

  await t.test(
    'refuses an unsigned sysext under --require-signed-sysexts, before the release is downloaded',
    async (t) => {
      const ws = await workspace(t, fx.env);
      await makeSysextImage(join(ws.dir, 'plain.raw'), { name: 'plain', arch: 'x86-64' });
      const run = await runBake(ws, [
        '--trust-cert',
        good.cert,
        '--require-signed-sysexts',
        '--output',
        'out',
        'plain:plain.raw',
      ]);
      assert.equal(run.exitCode, 3, run.stderr);
      assertOneLineError(
        run,
        /plain: --require-signed-sysexts is set, but plain\.raw is not a DDI signed by a --trust-cert/,
      );
      assert.doesNotMatch(run.stderr, /flatcar_production_image\.bin\.bz2/, 'refused before the image download');
      await assertNothingLeft(ws);
    },
  );

  await t.test('bake name@version --sign builds, signs and bakes a DDI the trusted certificate verifies', async (t) => {
    const upstream = await startUpstream(['x86-64']);
    t.after(() => upstream.close());
    const ws = await workspace(t, { ...fx.env, ...upstream.env });
    const sign = ['--sign', '--key', good.key, '--cert', good.cert];
    const trust = ['--trust-cert', good.cert, '--require-signed-sysexts'];
    const run = await runBake(ws, ['docker-buildx@0.19.3', ...sign, ...trust, '--output', 'out']);
    assert.equal(run.exitCode, 0, run.stderr);
    const { root } = await mountImage(t, join(ws.out, IMAGE));
    const ddi = join(root, 'opt/extensions/docker-buildx/docker-buildx-0.19.3-x86-64.raw');
    const lint = await runBake(ws, ['sysext', 'lint', ddi, '--name', 'docker-buildx', '--cert', good.cert]);
    assert.equal(lint.exitCode, 0, `${lint.stdout}\n${lint.stderr}`);
  });

  await t.test('refuses a signed DDI the trusted certificate does not verify (exit 6)', async (t) => {
    const ws = await prepared(t);
    const stranger = await certNamed(pairs.stranger, certs, 'stranger');
    const run = await runBake(ws, ['--trust-cert', stranger.cert, '--output', 'out', 'hello:hello.raw']);
    assert.equal(run.exitCode, 6, run.stderr);
    await assertNothingLeft(ws);
  });

  await t.test('refuses a DER certificate, which systemd would ignore', async (t) => {
    await refused(t, ['--trust-cert', await derOf(good.cert)], 3, /is a DER certificate, which systemd ignores/);
  });

  await t.test('refuses an expired certificate', async (t) => {
    const expired = await certNamed(pairs.expired, certs, 'old');
    await refused(t, ['--trust-cert', expired.cert], 3, /--trust-cert .*old\.pem expired on/);
  });

  await t.test('refuses a missing certificate file', async (t) => {
    await refused(t, ['--trust-cert', join(certs, 'missing.pem')], 3, /cannot read --trust-cert .*missing\.pem/);
  });

  await t.test('refuses a file with the private key in it', async (t) => {
    const both = join(certs, 'both.pem');
    await writeFile(both, `${await readFile(good.cert, 'utf8')}${await readFile(good.key, 'utf8')}`);
    await refused(t, ['--trust-cert', both], 3, /holds a private key too/);
  });

  await t.test('refuses --require-signed-sysexts without --trust-cert (usage)', async (t) => {
    await refused(t, ['--require-signed-sysexts'], 2, /--require-signed-sysexts without --trust-cert/);
  });

  await t.test("refuses --require-signed-sysexts where the release's systemd has no image policy", async (t) => {
    await refused(
      t,
      ['--release', '3760.2.0', '--trust-cert', good.cert, '--require-signed-sysexts'],
      3,
      /this release cannot honour --require-signed-sysexts: its systemd 252 has no image policies/,
    );
  });

  await t.test("refuses --require-signed-sysexts where the release's own sysexts are unsigned", async (t) => {
    await refused(
      t,
      ['--release', '4459.2.0', '--trust-cert', good.cert, '--require-signed-sysexts'],
      3,
      /its own sysexts \(docker-flatcar\.raw\) are unsigned/,
    );
  });

  await t.test("refuses a certificate name that would hide the release's own", async (t) => {
    const named = await certNamed(pairs.valid, certs, 'sysexts');
    await refused(
      t,
      ['--release', '4757.1.0', '--trust-cert', named.cert],
      3,
      /\/etc\/verity\.d\/sysexts\.crt would hide the release's own \/usr\/lib\/verity\.d\/sysexts\.crt/,
    );
  });
});
