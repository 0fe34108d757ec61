/**
 * Issue 20 items 1 and 3: paths from a sysupdate conf (local or fetched from a bakery) are confined to
 * their partition. Each case runs the real CLI as root and checks that a canary on the host is untouched
 * and that bake left nothing behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withReleaseMirror } from '../support/fixtures.ts';
import { assertNothingLeft, assertOneLineError, runBake, workspace } from '../support/bake-cli.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { escapeTo, hostCanary } from '../support/canary.ts';
import type { ReleaseSpec } from '../support/fixtures/release-tree.ts';
import { isRootUser } from '../../bake/core/exec.ts';

const ONE_RELEASE: ReleaseSpec[] = [{ version: '4593.2.5', channel: 'stable', arches: ['amd64'] }];

test('paths from sysupdate confs stay inside the image', { skip: !isRootUser() && 'needs root (loop devices, mounts)' }, async (t) => {
  const fx = await withReleaseMirror(t, { releases: ONE_RELEASE, bakery: [{ name: 'hello', version: '1.1.0', arches: ['x86-64'] }] });
  const bakery = join(fx.manifest.root, fx.manifest.bakery.dir);
  const conf = join(bakery, 'hello.conf');
  const original = await readFile(conf, 'utf8');
  // The real bakery lists only images in its SHA256SUMS, so nothing vouches for a conf.
  for (const sums of [join(bakery, 'SHA256SUMS'), join(bakery, 'hello/SHA256SUMS')]) {
    await writeFile(sums, (await readFile(sums, 'utf8')).split('\n').filter((line) => !line.endsWith('.conf')).join('\n'));
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
    await writeFile(join(ws.dir, 'hello.conf'), `[Target]\nPath=/opt/extensions/hello\nCurrentSymlink=/oem${escapeTo(canary.victim)}\n`);
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

  await t.test('--install_to root:/usr/lib names the flag, not a conf', async (t) => {
    const ws = await workspace(t, fx.env);
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    const run = await runBake(ws, ['--install_to', 'root:/usr/lib', '--output', 'out', 'hello:hello.raw']);
    assertOneLineError(run, /--install_to root:\/usr\/lib: '\/usr\/lib' is under \/usr/);
    assert.doesNotMatch(run.stderr, /conf/);
    await assertNothingLeft(ws);
  });
});
