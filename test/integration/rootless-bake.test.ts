/**
 * Issue 21's proof for `bake` itself: the CLI as a throw-away user without sudo, against the 127.0.0.1
 * mirror, bakes local sysexts (squashfs, erofs, btrfs) on ROOT and on OEM, fetched and recipe-built
 * ones, grows ROOT, and lints; once more inside an unprivileged podman container. Any step that needed a loop device, a mount or
 * sudo would fail (the user has none), and the verbose log must name none. The images must pass the
 * filesystems' own checks and hold what a mounted install would (read back here as root, in the test only).
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { execa } from 'execa';
import type { BootReport } from '../../bake/boot/check.ts';
import { isRootUser } from '../../bake/core/exec.ts';
import { readGpt } from '../../bake/image/gpt.ts';
import { sha256Text } from '../../bake/vendor/scripts-trust.ts';
import { mountImage } from '../support/bake-cli.ts';
import { bootableDiskOptions } from '../support/fixtures/bootable.ts';
import { signDetached } from '../support/fixtures/gpg.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { type ReleaseMirrorFixture, withReleaseMirror, withTempDir } from '../support/fixtures.ts';
import {
  BAKE_CLI,
  type ThrowAwayUser,
  throwAwayUser,
  type UserRun,
  unprivilegedContainer,
} from '../support/unprivileged.ts';
import { startUpstream } from '../support/upstream.ts';
import { QEMU_TEMPLATE_STANDIN } from '../support/vendor-fixture.ts';

const USER = 'bake-rootless-bake';
const IMAGE = 'flatcar_production_image.bin';
const RELEASE = '4593.2.5';
const ROOT_PARTITION = 9;
const OEM_PARTITION = 6;
/** What needs root, as the runner logs it (`+ argv`): none of it may appear. */
const PRIVILEGED = /^\+ (sudo|losetup|mount|umount)\b/m;
const skip = !isRootUser() && 'needs root to create the test user';

/** The filesystems' own checks, on the image as it is: ROOT at its offset, OEM copied out, the GPT. */
async function checkImage(image: string, scratch: string): Promise<void> {
  await execa('sgdisk', ['--verify', image]);
  const partitions = (await readGpt(image)).partitions;
  const root = partitions.find((p) => p.number === ROOT_PARTITION)!;
  await execa('e2fsck', ['-fn', `${image}?offset=${root.offsetBytes}`]);
  const oem = partitions.find((p) => p.number === OEM_PARTITION)!;
  const copy = join(scratch, 'oem.img');
  await execa('dd', [
    `if=${image}`,
    `of=${copy}`,
    'iflag=skip_bytes,count_bytes',
    `skip=${oem.offsetBytes}`,
    `count=${oem.sizeBytes}`,
    'conv=sparse',
    'status=none',
  ]);
  try {
    await execa('btrfs', ['check', '--readonly', copy]);
  } finally {
    await rm(copy, { force: true });
  }
}

function assertBaked(run: UserRun, what: string): void {
  assert.equal(run.exitCode, 0, `${what}: ${run.stderr}`);
  assert.doesNotMatch(run.stderr, PRIVILEGED, `${what}: no sudo, loop device or mount`);
}

/** Points the bake at the recipes' upstream stand-in (127.0.0.1 too). */
async function recipeUpstream(t: TestContext): Promise<Record<string, string>> {
  const upstream = await startUpstream(['x86-64'], { only: ['docker'] });
  t.after(() => upstream.close());
  return upstream.env;
}

/** A sysext too big for the fixture's ROOT (random bytes barely compress), so the bake must grow it. */
async function bigSysext(user: ThrowAwayUser): Promise<string> {
  const path = join(user.dir, 'big.raw');
  await makeSysextImage(path, {
    name: 'big',
    arch: 'x86-64',
    files: { 'usr/share/big/payload': randomBytes(72 * 1024 * 1024).toString('base64') },
  });
  return path;
}

test('bake as a user without root or sudo', { skip }, async (t) => {
  const fx = await withReleaseMirror(t);
  const user = await throwAwayUser(t, USER);
  const env = { ...fx.env, BAKE_CACHE_DIR: join(user.dir, 'cache'), ...(await recipeUpstream(t)) };
  const scratch = await mkdtemp(join(tmpdir(), 'rootless-bake-'));
  t.after(() => rm(scratch, { recursive: true, force: true }));

  await t.test('doctor: a bake needs neither root nor sudo', async () => {
    const run = await user.node([BAKE_CLI, 'doctor', '--json'], { env });
    const { ok, findings } = JSON.parse(run.stdout) as {
      ok: boolean;
      findings: Array<{ name: string; everyBake: boolean }>;
    };
    assert.equal(ok, true, run.stdout);
    assert.equal(findings.find((f) => f.name === 'root or passwordless sudo')?.everyBake, false);
  });

  await t.test('ROOT: local sysexts (one btrfs) with a conf, a recipe built on the spot, ROOT grown', async () => {
    const big = await bigSysext(user);
    await makeSysextImage(join(user.dir, 'hello.raw'), {
      name: 'hello',
      arch: 'x86-64',
      files: { 'usr/bin/hello': '#!/bin/sh\necho hello\n' },
    });
    // Inspected by bake's own btrfs reader: no mount, so no root.
    await makeSysextImage(join(user.dir, 'tree.raw'), { name: 'tree', arch: 'x86-64', format: 'btrfs' });
    await writeFile(join(user.dir, 'hello.conf'), '[Target]\nPath=/opt/extensions/hello\n');
    await user.give(user.dir);
    const run = await user.bake(
      [
        ...['--json', '--release', RELEASE, '--output', 'root-out'],
        ...['big:big.raw', 'hello:hello.raw', 'tree:tree.raw', 'docker@27.3.1'],
      ],
      { env },
    );
    assertBaked(run, 'bake to ROOT');
    assert.ok(JSON.parse(run.stdout).rootGrownBytes > 0, 'ROOT grew');
    const output = join(user.dir, 'root-out', IMAGE);
    assert.equal((await stat(output)).uid, user.uid, 'the result belongs to the user');
    await checkImage(output, scratch);
    const { root } = await mountImage(t, output);
    for (const [name, file] of [
      ['big', 'big.raw'],
      ['hello', 'hello.raw'],
      ['tree', 'tree.raw'],
    ] as const) {
      const installed = join(root, 'opt/extensions', name, file);
      assert.ok((await readFile(installed)).equals(await readFile(join(user.dir, file))), `${name} installed`);
      assert.deepEqual([(await stat(installed)).uid, (await stat(installed)).mode & 0o777], [0, 0o644]);
      assert.equal(await readlink(join(root, 'etc/extensions', `${name}.raw`)), `/opt/extensions/${name}/${file}`);
    }
    assert.equal(
      await readFile(join(root, 'etc/sysupdate.hello.d/hello.conf'), 'utf8'),
      '[Target]\nPath=/opt/extensions/hello\n',
    );
    assert.equal(
      await readlink(join(root, 'etc/extensions/docker.raw')),
      '/opt/extensions/docker/docker-27.3.1-x86-64.raw',
    );
    assert.ok((await stat(join(root, 'etc/sysupdate.docker.d/docker.conf'))).isFile());
    assert.ok((await stat(big)).size > 64 * 1024 * 1024, 'bigger than the fixture ROOT');
  });

  await t.test('OEM: a local sysext, linked from ROOT by the path the booted system sees', async () => {
    await makeSysextImage(join(user.dir, 'oem.raw'), { name: 'oemext', arch: 'x86-64', format: 'erofs' });
    await user.give(join(user.dir, 'oem.raw'));
    const run = await user.bake(['--install_to', 'oem:/sysexts', '--output', 'oem-out', 'oemext:oem.raw'], { env });
    assertBaked(run, 'bake to OEM');
    const output = join(user.dir, 'oem-out', IMAGE);
    await checkImage(output, scratch);
    const { root, oem } = await mountImage(t, output);
    const installed = join(oem, 'sysexts/oemext/oem.raw');
    assert.ok((await readFile(installed)).equals(await readFile(join(user.dir, 'oem.raw'))));
    assert.deepEqual([(await stat(installed)).uid, (await stat(installed)).mode & 0o777], [0, 0o644]);
    assert.equal(await readlink(join(root, 'etc/extensions/oemext.raw')), '/oem/sysexts/oemext/oem.raw');
  });

  await t.test('--fetch: a bakery sysext and its conf, checked against SHA256SUMS', async () => {
    const file = 'hello-1.1.0-x86-64.raw';
    const run = await user.bake(['--fetch', '--output', 'fetch-out', `hello:${file}`], { env });
    assertBaked(run, 'bake with --fetch');
    const output = join(user.dir, 'fetch-out', IMAGE);
    await checkImage(output, scratch);
    const { root } = await mountImage(t, output);
    const served = fx.manifest.bakery.sysexts.find((s) => s.file.endsWith(file))!;
    const installed = join(root, 'opt/extensions/hello', file);
    assert.ok((await readFile(installed)).equals(await readFile(join(fx.manifest.root, served.file))));
    assert.equal(
      await readFile(join(root, 'etc/sysupdate.hello.d/hello.conf'), 'utf8'),
      await readFile(join(fx.manifest.root, fx.manifest.bakery.confs.hello!), 'utf8'),
    );
  });

  await t.test('sysext lint', async () => {
    const run = await user.bake(['sysext', 'lint', 'big.raw'], { env });
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /^big\.raw: ok$/m);
    assert.doesNotMatch(run.stderr, PRIVILEGED);
  });

  await t.test('--vendor qemu_uefi --vendor-route native', async () => {
    const native = await qemuUefiNative(fx);
    const run = await user.bake(['--release', RELEASE, ...native.args, '--output', 'vendor-out', 'hello:hello.raw'], {
      env: { ...env, ...native.env },
    });
    assertBaked(run, 'native vendor route');
    const qcow2 = join(user.dir, 'vendor-out/flatcar_production_qemu_uefi_image.img');
    const raw = join(scratch, 'qemu.bin');
    await execa('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', qcow2, raw]);
    await checkImage(raw, scratch);
  });
});

/** The release's signed oem-qemu.raw and the qemu_template.sh stand-in the native qemu_uefi route takes. */
async function qemuUefiNative(fx: ReleaseMirrorFixture): Promise<{ args: string[]; env: Record<string, string> }> {
  const oem = await makeSysextImage(join(fx.manifest.root, 'stable/amd64-usr', RELEASE, 'oem-qemu.raw'), {
    name: 'oem-qemu',
    arch: 'x86-64',
    id: 'flatcar',
    files: { 'usr/share/oem/marker': 'qemu\n' },
  });
  await signDetached(fx.key, oem.path);
  const template = join(fx.manifest.root, `flatcar/scripts/raw/stable-${RELEASE}/build_library/qemu_template.sh`);
  await mkdir(dirname(template), { recursive: true });
  await writeFile(template, QEMU_TEMPLATE_STANDIN);
  return {
    args: [
      ...['--vendor', 'qemu_uefi', '--vendor-route', 'native', '--compression', 'none'],
      ...['--insecure-scripts', '--scripts-sha256', sha256Text(QEMU_TEMPLATE_STANDIN)],
    ],
    env: { BAKE_SCRIPTS_FILE_URL: `${fx.mirror.url}/flatcar/scripts/raw/{tag}/{path}` },
  };
}

// One bake, conversion and TCG boot: a few minutes once it runs (boot-check.test.ts has the same bounds).
test('bake --vendor qemu_uefi --smoke-test as a user without root or sudo', {
  skip,
  timeout: 20 * 60_000,
}, async (t) => {
  const disk = await bootableDiskOptions(await withTempDir(t, 'rootless-boot-fixture'));
  const fx = await withReleaseMirror(t, {
    releases: [{ version: RELEASE, channel: 'stable', arches: ['amd64'], disk }],
    bakery: [],
  });
  const user = await throwAwayUser(t, `${USER}-boot`);
  await makeSysextImage(join(user.dir, 'hello.raw'), {
    name: 'hello',
    arch: 'x86-64',
    id: 'flatcar',
    files: { 'usr/share/hello/mark': 'hello\n' },
  });
  // Placed on OEM by its sysupdate conf, so the guest merges one sysext from each partition.
  await makeSysextImage(join(user.dir, 'world.raw'), {
    name: 'world',
    arch: 'x86-64',
    id: 'flatcar',
    files: { 'usr/share/world/mark': 'world\n' },
  });
  await writeFile(join(user.dir, 'world.conf'), '[Transfer]\nVerify=false\n[Target]\nPath=/oem/extensions/world\n');
  await user.give(user.dir);
  const native = await qemuUefiNative(fx);
  const sysexts = ['hello:hello.raw', 'world:world.raw'];
  const run = await user.bake(
    ['--release', RELEASE, ...native.args, '--smoke-test', '--json', '--output', 'out', ...sysexts],
    { env: { ...fx.env, BAKE_CACHE_DIR: join(user.dir, 'cache'), ...native.env }, timeoutMs: 15 * 60_000 },
  );
  assertBaked(run, 'smoke test');
  const result = JSON.parse(run.stdout) as { smokeTest: BootReport };
  assert.equal(result.smokeTest.pass, true);
  const merged = (name: string) => result.smokeTest.extensions.find((extension) => extension.name === name)?.merged;
  assert.deepEqual([merged('hello'), merged('world')], [true, true], 'one sysext on ROOT, one on OEM');
});

test('bake in an unprivileged podman container', { skip }, async (t) => {
  const fx = await withReleaseMirror(t);
  const container = await unprivilegedContainer(t);
  const ws = await mkdtemp(join(tmpdir(), 'rootless-bake-podman-'));
  t.after(() => rm(ws, { recursive: true, force: true }));
  await makeSysextImage(join(ws, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
  const variables = Object.entries({ ...fx.env, BAKE_CACHE_DIR: '/ws/cache' });
  const run = await container.run(ws, `node ${BAKE_CLI} --verbose --release ${RELEASE} --output out hello:hello.raw`, {
    env: Object.fromEntries(variables),
    network: 'host',
  });
  assertBaked(run, 'bake in the container');
  const output = join(ws, 'out', IMAGE);
  await checkImage(output, ws);
  const { root } = await mountImage(t, output);
  assert.ok(
    (await readFile(join(root, 'opt/extensions/hello/hello.raw'))).equals(await readFile(join(ws, 'hello.raw'))),
  );
  assert.equal(await readlink(join(root, 'etc/extensions/hello.raw')), '/opt/extensions/hello/hello.raw');
});
