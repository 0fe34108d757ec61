/**
 * Issue 20 items 1 and 3: paths from a sysupdate conf (local or fetched from a bakery) are confined to
 * their partition. Each case runs the real CLI as root and checks that a canary on the host is untouched
 * and that bake left nothing behind.
 */

import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { isRootUser } from '../../bake/core/exec.ts';
import { assertNothingLeft, assertOneLineError, runBake, workspace } from '../support/bake-cli.ts';
import { escapeTo, hostCanary } from '../support/canary.ts';
import { signDetached } from '../support/fixtures/gpg.ts';
import type { ReleaseSpec } from '../support/fixtures/release-tree.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror, withSigningKey } from '../support/fixtures.ts';

const ONE_RELEASE: ReleaseSpec[] = [{ version: '4593.2.5', channel: 'stable', arches: ['amd64'] }];

test('paths from sysupdate confs stay inside the image', {
  skip: !isRootUser() && 'needs root (loop devices, mounts)',
}, async (t) => {
  const fx = await withReleaseMirror(t, {
    releases: ONE_RELEASE,
    bakery: [{ name: 'hello', version: '1.1.0', arches: ['x86-64'] }],
  });
  const bakery = join(fx.manifest.root, fx.manifest.bakery.dir);
  const conf = join(bakery, 'hello.conf');
  const original = await readFile(conf, 'utf8');
  // The real bakery lists only images in its SHA256SUMS, so nothing vouches for a conf.
  for (const sums of [join(bakery, 'SHA256SUMS'), join(bakery, 'hello/SHA256SUMS')]) {
    await writeFile(
      sums,
      (await readFile(sums, 'utf8'))
        .split('\n')
        .filter((line) => !line.endsWith('.conf'))
        .join('\n'),
    );
  }

  await t.test('--fetch: a bakery conf whose CurrentSymlink climbs out of the image is refused', async (t) => {
    const canary = await hostCanary(t);
    await writeFile(conf, original.replace(/^CurrentSymlink=.*$/m, `CurrentSymlink=${escapeTo(canary.victim)}`));
    t.after(() => writeFile(conf, original));
    const ws = await workspace(t, fx.env);
    const run = await runBake(ws, ['--fetch', '--output', 'out', 'hello:hello-1.1.0-x86-64.raw']);
    assertOneLineError(run, /hello\.conf:\d+: \[Target\] CurrentSymlink=.* is not normalised/);
    assert.equal(run.exitCode, 3);
    await canary.assertUntouched();
    await assertNothingLeft(ws);
  });

  await t.test('a local conf whose CurrentSymlink goes through /oem/.. is refused', async (t) => {
    const canary = await hostCanary(t);
    const ws = await workspace(t, fx.env);
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    await writeFile(
      join(ws.dir, 'hello.conf'),
      `[Target]\nPath=/opt/extensions/hello\nCurrentSymlink=/oem${escapeTo(canary.victim)}\n`,
    );
    const run = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
    assertOneLineError(run, /hello\.conf:3: \[Target\] CurrentSymlink=\/oem\/\.\..* is not normalised/);
    assert.equal(run.exitCode, 3);
    await canary.assertUntouched();
    await assertNothingLeft(ws);
  });

  await t.test('a local conf with an empty Path= is refused instead of making a self-referencing link', async (t) => {
    const canary = await hostCanary(t);
    const ws = await workspace(t, fx.env);
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    await writeFile(join(ws.dir, 'hello.conf'), '[Target]\nPath=\nCurrentSymlink=/etc/extensions/hello.raw\n');
    const run = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
    assertOneLineError(run, /hello\.conf:2: \[Target\] Path= is empty/);
    assert.equal(run.exitCode, 3);
    await canary.assertUntouched();
    await assertNothingLeft(ws);
  });

  await t.test(
    '--dry-run and --verbose show what checked each fetched file: nothing vouches for this conf',
    async (t) => {
      const ws = await workspace(t, fx.env);
      const plan = await runBake(ws, ['--fetch', '--dry-run', '--output', 'out', 'hello:hello-1.1.0-x86-64.raw']);
      assert.equal(plan.exitCode, 0, plan.stderr);
      assert.match(
        plan.stdout,
        /\/extensions\/hello\/SHA256SUMS\n {4}checked by nothing: unsigned \(no --bakery-key\)/,
      );
      assert.match(
        plan.stdout,
        /\/extensions\/hello-1\.1\.0-x86-64\.raw\n {4}checked by its sha256 in \S+\/extensions\/hello\/SHA256SUMS\n/,
      );
      assert.match(
        plan.stdout,
        /\/extensions\/hello\.conf\n {4}checked by its sha256 in \S+ if listed, a strict sysupdate parse and the path rules/,
      );
      const run = await runBake(ws, ['--fetch', '--verbose', '--output', 'out', 'hello:hello-1.1.0-x86-64.raw']);
      assert.equal(run.exitCode, 0, run.stderr);
      assert.match(
        run.stderr,
        /checked \S+\/extensions\/hello\.conf: no checksum \(the list does not name it\), a strict sysupdate parse and the path rules/,
      );
      await assertNothingLeft(ws, ['flatcar_production_image.bin']);
    },
  );

  await t.test('--install_to root:/usr/lib names the flag, not a conf', async (t) => {
    const ws = await workspace(t, fx.env);
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    const run = await runBake(ws, ['--install_to', 'root:/usr/lib', '--output', 'out', 'hello:hello.raw']);
    assertOneLineError(run, /--install_to root:\/usr\/lib: '\/usr\/lib' is under \/usr/);
    assert.doesNotMatch(run.stderr, /conf/);
    await assertNothingLeft(ws);
  });
});

test('a bakery that signs its list (SHA256SUMS.gpg) is checked with --bakery-key', {
  skip: !isRootUser() && 'needs root (loop devices, mounts)',
}, async (t) => {
  const fx = await withReleaseMirror(t, {
    releases: ONE_RELEASE,
    bakery: [{ name: 'hello', version: '1.1.0', arches: ['x86-64'] }],
  });
  const bakeryKey = await withSigningKey(t, { name: 'Bakery Signer' });
  const list = join(fx.manifest.root, fx.manifest.bakery.dir, 'hello/SHA256SUMS');
  const fullList = await readFile(list, 'utf8');
  /** Publishes `text` as the extension's list with its SHA256SUMS.gpg. */
  const publishSigned = async (text: string) => {
    await writeFile(list, text);
    await rename(await signDetached(bakeryKey, list), `${list}.gpg`);
  };
  const args = ['--fetch', '--verbose', '--output', 'out', 'hello:hello-1.1.0-x86-64.raw'];

  await t.test('a signed list vouches for image and conf', async (t) => {
    await publishSigned(fullList);
    const ws = await workspace(t, { ...fx.env, BAKE_BAKERY_KEY: bakeryKey.publicKeyPath });
    const run = await runBake(ws, args);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`checked \\S+/hello/SHA256SUMS: \\S+/hello/SHA256SUMS\\.gpg \\(signed by ${bakeryKey.fingerprint}\\)`),
    );
    assert.match(
      run.stderr,
      /checked \S+\/extensions\/hello\.conf: its sha256 in \S+ \(signed\), a strict sysupdate parse/,
    );
    await assertNothingLeft(ws, ['flatcar_production_image.bin']);
  });

  await t.test('with a signed list, a conf the list does not name is refused before anything is written', async (t) => {
    const canary = await hostCanary(t);
    await publishSigned(
      fullList
        .split('\n')
        .filter((line) => !line.endsWith('.conf'))
        .join('\n'),
    );
    t.after(() => publishSigned(fullList));
    const ws = await workspace(t, { ...fx.env, BAKE_BAKERY_KEY: bakeryKey.publicKeyPath });
    const run = await runBake(ws, args);
    assertOneLineError(run, /hello\.conf is not listed in the signed \S+\/hello\/SHA256SUMS/);
    assert.equal(run.exitCode, 6);
    await canary.assertUntouched();
    await assertNothingLeft(ws);
  });

  await t.test('a list signed by another key is refused', async (t) => {
    const other = await withSigningKey(t, { name: 'Someone Else' });
    const ws = await workspace(t, { ...fx.env, BAKE_BAKERY_KEY: other.publicKeyPath });
    const run = await runBake(ws, args);
    assertOneLineError(run, /SHA256SUMS.*check --bakery-key/);
    assert.equal(run.exitCode, 6);
    await assertNothingLeft(ws);
  });
});
