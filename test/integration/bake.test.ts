/**
 * bake end to end, as a user runs it: the real CLI against a local release mirror, real loop devices and
 * mounts, results read back with tools we did not write.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, readlink, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { readGpt } from '../../bake/image/gpt.ts';
import { assertNothingLeft, mountImage, runBake, workspace } from '../support/bake-cli.ts';
import { signDetached } from '../support/fixtures/gpg.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror } from '../support/fixtures.ts';
import { startUpstream } from '../support/upstream.ts';

const IMAGE = 'flatcar_production_image.bin';

test('bake', async (t) => {
  const fx = await withReleaseMirror(t);
  const requestsFor = (pattern: RegExp) => fx.mirror.requests.filter((r) => pattern.test(r.path));

  await t.test('bakes a local sysext and its conf into ROOT', async (t) => {
    const ws = await workspace(t, fx.env);
    const sysext = await makeSysextImage(join(ws.dir, 'hello.raw'), {
      name: 'hello',
      arch: 'x86-64',
      files: { 'usr/bin/hello': '#!/bin/sh\necho hello\n' },
    });
    await writeFile(
      join(ws.dir, 'hello.conf'),
      '[Target]\nPath=/opt/extensions/hello\nCurrentSymlink=/etc/extensions/hello.raw\n',
    );
    const run = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /out\/flatcar_production_image\.bin/);
    assert.match(
      run.stdout,
      /hello\s+ROOT\s+\/opt\/extensions\/hello\/hello\.raw\s+\/etc\/extensions\/hello\.raw\s+\/etc\/sysupdate\.hello\.d\/hello\.conf/,
    );
    await assertNothingLeft(ws, [IMAGE]);
    const output = join(ws.out, IMAGE);
    const info = await stat(output);
    assert.ok(
      info.blocks * 512 < info.size / 4,
      `the output is sparse (${info.blocks * 512} of ${info.size} bytes allocated)`,
    );
    assert.equal(info.mode & 0o777, 0o644);
    await execa('sgdisk', ['--verify', output]);
    const { root } = await mountImage(t, output);
    const installed = join(root, 'opt/extensions/hello/hello.raw');
    assert.ok((await readFile(installed)).equals(await readFile(sysext.path)));
    assert.equal((await stat(installed)).mode & 0o777, 0o644);
    assert.equal((await stat(installed)).uid, 0);
    assert.equal(await readlink(join(root, 'etc/extensions/hello.raw')), '/opt/extensions/hello/hello.raw');
    assert.match(
      await readFile(join(root, 'etc/sysupdate.hello.d/hello.conf'), 'utf8'),
      /Path=\/opt\/extensions\/hello/,
    );
  });

  await t.test('--install_to oem: the image on OEM, the link on ROOT by the path the booted OS sees', async (t) => {
    const ws = await workspace(t, fx.env);
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64', format: 'erofs' });
    const run = await runBake(ws, ['--install_to', 'oem:/sysexts', '--output', 'out', 'hello:hello.raw']);
    assert.equal(run.exitCode, 0, run.stderr);
    await assertNothingLeft(ws, [IMAGE]);
    const { root, oem } = await mountImage(t, join(ws.out, IMAGE));
    assert.ok((await stat(join(oem, 'sysexts/hello/hello.raw'))).isFile());
    assert.equal(await readlink(join(root, 'etc/extensions/hello.raw')), '/oem/sysexts/hello/hello.raw');
    await assert.rejects(lstat(join(root, 'sysexts')), 'nothing written to ROOT at the OEM path');
  });

  await t.test('--fetch takes image and conf from the bakery, checked against SHA256SUMS', async (t) => {
    const ws = await workspace(t, fx.env);
    const run = await runBake(ws, ['--fetch', '--json', '--output', 'out', 'hello:hello-1.1.0-x86-64.raw']);
    assert.equal(run.exitCode, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.equal(result.installed[0].path, '/opt/extensions/hello/hello-1.1.0-x86-64.raw');
    assert.equal(result.installed[0].conf, '/etc/sysupdate.hello.d/hello.conf');
    assert.ok(requestsFor(/^\/extensions\/(hello\/)?SHA256SUMS$/).length > 0, 'SHA256SUMS was read');
    await assertNothingLeft(ws, [IMAGE]);
    const { root } = await mountImage(t, join(ws.out, IMAGE));
    const served = fx.manifest.bakery.sysexts.find((s) => s.file.endsWith('hello-1.1.0-x86-64.raw'))!;
    assert.ok(
      (await readFile(join(root, 'opt/extensions/hello/hello-1.1.0-x86-64.raw'))).equals(
        await readFile(join(fx.manifest.root, served.file)),
      ),
    );
    assert.equal(
      await readlink(join(root, 'etc/extensions/hello.raw')),
      '/opt/extensions/hello/hello-1.1.0-x86-64.raw',
    );
    assert.equal(
      await readFile(join(root, 'etc/sysupdate.hello.d/hello.conf'), 'utf8'),
      await readFile(join(fx.manifest.root, fx.manifest.bakery.confs.hello!), 'utf8'),
    );
  });

  await t.test('--fetch name@version resolves against the bakery catalogue, @latest to the newest', async (t) => {
    const ws = await workspace(t, fx.env);
    const latest = await runBake(ws, ['--fetch', '--json', '--output', 'out', 'hello@latest']);
    assert.equal(latest.exitCode, 0, latest.stderr);
    assert.equal(JSON.parse(latest.stdout).installed[0].path, '/opt/extensions/hello/hello-1.1.0-x86-64.raw');
    const pinned = await runBake(ws, ['--fetch', '--force', '--json', '--output', 'out', 'hello@1.0.0']);
    assert.equal(pinned.exitCode, 0, pinned.stderr);
    assert.equal(JSON.parse(pinned.stdout).installed[0].path, '/opt/extensions/hello/hello-1.0.0-x86-64.raw');
    const missing = await runBake(ws, ['--fetch', '--force', '--output', 'out', 'hello@9.9.9']);
    assert.match(
      missing.stderr,
      /hello@9\.9\.9 for x86-64 is not in .*: versions for x86-64: (1\.0\.0, 1\.1\.0|1\.1\.0, 1\.0\.0)$/,
    );
    await assertNothingLeft(ws, [IMAGE]);
  });

  await t.test(
    'a second bake of the same release downloads nothing, decompresses nothing, and starts from the stock image',
    async (t) => {
      const ws = await workspace(t, { ...fx.env, BAKE_CACHE_DIR: join((await workspace(t)).dir, 'cache') });
      await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
      await makeSysextImage(join(ws.dir, 'world.raw'), { name: 'world', arch: 'x86-64' });
      const releaseFiles = /^\/stable\/amd64-usr\/4593\.2\.5\//;
      const before = requestsFor(releaseFiles).length;
      const first = await runBake(ws, ['-v', '--output', 'out', 'hello:hello.raw']);
      assert.equal(first.exitCode, 0, first.stderr);
      const imageChecks = first.stderr
        .split('\n')
        .filter((line) => /gpg .*--verify \S+flatcar_production_image\.bin\.bz2/.test(line));
      const checked = imageChecks.map((line) => line.split('/').at(-1));
      assert.deepEqual(
        checked,
        ['flatcar_production_image.bin.bz2.DIGESTS'],
        `gpg checked the image's signed DIGESTS once and never read the image\n${first.stderr}`,
      );
      const afterFirst = requestsFor(releaseFiles);
      const downloadsAfterFirst = afterFirst.length;
      const fetched = new Set(afterFirst.slice(before).map((r) => r.path.split('/').at(-1)));
      const expected = [
        'flatcar_production_image.bin.bz2',
        'flatcar_production_image.bin.bz2.DIGESTS',
        'flatcar_production_image.bin.bz2.DIGESTS.sig',
        'version.txt',
        'version.txt.sig',
      ];
      assert.deepEqual(
        [...fetched].sort(),
        expected,
        'the image, its signed DIGESTS, and version.txt with its signature',
      );
      const second = await runBake(ws, ['--force', '-v', '--output', 'out', 'world:world.raw']);
      assert.equal(second.exitCode, 0, second.stderr);
      assert.equal(requestsFor(releaseFiles).length, downloadsAfterFirst, 'no release file requested again');
      assert.doesNotMatch(second.stderr, /lbzip2|gpg .*--verify/, 'neither decompressed nor re-verified');
      await assertNothingLeft(ws, [IMAGE]);
      // The first bake decompressed into its own image and cached a copy: one made before it installed hello.
      const { root } = await mountImage(t, join(ws.out, IMAGE));
      assert.equal(await readlink(join(root, 'etc/extensions/world.raw')), '/opt/extensions/world/world.raw');
      await assert.rejects(
        lstat(join(root, 'etc/extensions/hello.raw')),
        "the first bake's sysext is not in the cached base image",
      );
      await assert.rejects(lstat(join(root, 'opt/extensions/hello')));
    },
  );

  await t.test('two bakes of one release at once: one waits for the other, the image is downloaded once', async (t) => {
    const cache = join((await workspace(t)).dir, 'shared-cache');
    const [a, b] = [
      await workspace(t, { ...fx.env, BAKE_CACHE_DIR: cache }),
      await workspace(t, { ...fx.env, BAKE_CACHE_DIR: cache }),
    ];
    for (const ws of [a, b]) await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    const image = /^\/stable\/amd64-usr\/4593\.2\.5\/flatcar_production_image\.bin\.bz2$/;
    const before = requestsFor(image).length;
    fx.mirror.fault(image, { throttleBytesPerSecond: 64 * 1024 }); // long enough for the two to overlap
    t.after(() => fx.mirror.clearFaults());
    const runs = await Promise.all([
      runBake(a, ['--output', 'out', 'hello:hello.raw']),
      runBake(b, ['--output', 'out', 'hello:hello.raw']),
    ]);
    for (const run of runs) assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(requestsFor(image).length - before, 1, 'one download of the image');
    assert.ok(
      runs.some((run) => /waiting for another bake of this release/.test(run.stderr)),
      'one of them waited',
    );
    for (const ws of [a, b]) await assertNothingLeft(ws, [IMAGE]);
  });

  await t.test('a lock left by a bake that was killed is taken over', async (t) => {
    const ws = await workspace(t, { ...fx.env, BAKE_CACHE_DIR: join((await workspace(t)).dir, 'cache') });
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    const releaseDir = join(ws.env.BAKE_CACHE_DIR!, 'releases/stable/amd64-usr/4593.2.5');
    await mkdir(releaseDir, { recursive: true });
    const dead = execa('true');
    await dead;
    await writeFile(join(releaseDir, '.lock'), `${dead.pid}\n${hostname()}\n`);
    const run = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /waiting for another bake/);
    await assertNothingLeft(ws, [IMAGE]);
  });

  await t.test('channels and exact versions resolve through releases.json', async (t) => {
    const ws = await workspace(t, fx.env);
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    for (const [release, version] of [
      ['beta', '4757.1.0'],
      ['stable', '4593.2.5'],
      ['4459.2.4', '4459.2.4'],
      ['lts', '4081.3.10'],
    ]) {
      const run = await runBake(ws, ['--dry-run', '--json', '--release', release!, 'hello:hello.raw']);
      assert.equal(run.exitCode, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).release.version, version, release);
    }
  });

  await t.test('--arch arm64 bakes the arm64 release with an arm64 sysext', async (t) => {
    const ws = await workspace(t, fx.env);
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'arm64', format: 'ext4' });
    const run = await runBake(ws, ['--arch', 'arm64', '--json', '--output', 'out', 'hello:hello.raw']);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).release.board, 'arm64-usr');
    assert.ok(requestsFor(/^\/stable\/arm64-usr\/4593\.2\.5\/flatcar_production_image\.bin\.bz2$/).length > 0);
    await assertNothingLeft(ws, [IMAGE]);
  });

  await t.test(
    'the cached base image is trusted in the boot that copied it, confirmed on disk later, and not trusted after a crash',
    async (t) => {
      const ws = await workspace(t, { ...fx.env, BAKE_CACHE_DIR: join((await workspace(t)).dir, 'cache') });
      await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
      const bakeAgain = async () => {
        const run = await runBake(ws, ['--force', '-v', '--output', 'out', 'hello:hello.raw']);
        assert.equal(run.exitCode, 0, run.stderr);
        return { decompressed: /lbzip2 -d/.test(run.stderr), marker: await readFile(marker, 'utf8') };
      };
      const marker = join(
        ws.env.BAKE_CACHE_DIR!,
        'releases/stable/amd64-usr/4593.2.5/flatcar_production_image.bin.complete',
      );
      const boot = `boot ${(await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim()} `;
      const first = await bakeAgain();
      assert.ok(
        first.decompressed && first.marker.startsWith(boot),
        `the copy is vouched for in this boot only: ${first.marker}`,
      );
      const soon = await bakeAgain();
      assert.ok(!soon.decompressed && soon.marker === first.marker, 'used as it is in the same boot, nothing flushed');
      const longAgo = new Date(Date.now() - 10 * 60_000);
      await utimes(marker, longAgo, longAgo);
      const later = await bakeAgain();
      assert.ok(
        !later.decompressed && later.marker === first.marker.slice(boot.length),
        `confirmed on disk: the marker drops the boot (${later.marker})`,
      );
      // Copied in another boot and never confirmed: a crash may have cost it data that its size hides.
      await writeFile(marker, `boot 00000000-0000-0000-0000-000000000000 ${first.marker.slice(boot.length)}`);
      const afterCrash = await bakeAgain();
      assert.ok(afterCrash.decompressed && afterCrash.marker.startsWith(boot), 'decompressed again and kept anew');
      await assertNothingLeft(ws, [IMAGE]);
    },
  );

  await t.test('--dry-run prints release, URLs and every path written, and touches nothing', async (t) => {
    const ws = await workspace(t, { ...fx.env, BAKE_CACHE_DIR: join((await workspace(t)).dir, 'empty-cache') });
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    const run = await runBake(ws, ['--dry-run', '--install_to', 'oem:/x', '--output', 'out', 'hello:hello.raw']);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /release:\s+4593\.2\.5 \(channel stable, board amd64-usr\)/);
    assert.match(run.stdout, /\/stable\/amd64-usr\/4593\.2\.5\/flatcar_production_image\.bin\.bz2\.DIGESTS\.sig/);
    assert.match(run.stdout, /OEM\s+\/x\/hello\/hello\.raw/);
    assert.match(run.stdout, /ROOT\s+\/etc\/extensions\/hello\.raw\s+→ \/oem\/x\/hello\/hello\.raw/);
    await assertNothingLeft(ws);
    await assert.rejects(stat(ws.env.BAKE_CACHE_DIR!), 'no cache was created');
  });

  await t.test('grows ROOT when the sysexts do not fit, instead of failing', async (t) => {
    const ws = await workspace(t, fx.env);
    // base64 of random bytes barely compresses: the image comes out well above the fixture's 64 MiB ROOT.
    const payload = randomBytes(96 * 1024 * 1024).toString('base64');
    await makeSysextImage(join(ws.dir, 'big.raw'), {
      name: 'big',
      arch: 'x86-64',
      files: { 'usr/share/big/payload': payload },
    });
    assert.ok((await stat(join(ws.dir, 'big.raw'))).size > 80 * 1024 * 1024);
    const run = await runBake(ws, ['--json', '--output', 'out', 'big:big.raw']);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.ok(JSON.parse(run.stdout).rootGrownBytes > 0);
    await assertNothingLeft(ws, [IMAGE]);
    const output = join(ws.out, IMAGE);
    await execa('sgdisk', ['--verify', output]);
    const grown = (await readGpt(output)).partitions.find((p) => p.number === 9)!;
    const original = fx.manifest.releases
      .find((r) => r.version === '4593.2.5' && r.arch === 'amd64')!
      .partitions.find((p) => p.number === 9)!;
    assert.ok(grown.sizeBytes > original.sizeLba * 512 + 64 * 1024 * 1024, 'p9 grew');
    assert.equal(grown.label, 'ROOT');
    assert.equal(grown.typeGuid, '3884dd41-8582-4404-b9a8-e9b84f2df50e');
    const { root } = await mountImage(t, output);
    assert.equal(
      (await stat(join(root, 'opt/extensions/big/big.raw'))).size,
      (await stat(join(ws.dir, 'big.raw'))).size,
    );
  });

  await t.test('name@version builds recipes on the spot and bakes them with their sysupdate confs', async (t) => {
    const upstream = await startUpstream(['x86-64'], { only: ['docker', 'kubernetes', 'cni'] });
    t.after(() => upstream.close());
    const upstreamEnv = upstream.env;
    const ws = await workspace(t, { ...fx.env, ...upstreamEnv });
    const run = await runBake(ws, ['--json', '--output', 'out', 'docker@27.3.1', 'kubernetes@latest']);
    assert.equal(run.exitCode, 0, run.stderr);
    const installed = JSON.parse(run.stdout).installed as Array<{
      name: string;
      path: string;
      conf?: string;
      source: string;
    }>;
    assert.deepEqual(
      installed.map((i) => [i.name, i.source, i.path, i.conf]),
      [
        ['docker', 'recipe', '/opt/extensions/docker/docker-27.3.1-x86-64.raw', '/etc/sysupdate.docker.d/docker.conf'],
        [
          'kubernetes',
          'recipe',
          '/opt/extensions/kubernetes/kubernetes-v1.31.4-x86-64.raw',
          '/etc/sysupdate.kubernetes.d/kubernetes.conf',
        ],
      ],
    );
    await assertNothingLeft(ws, [IMAGE]);
    const { root } = await mountImage(t, join(ws.out, IMAGE));
    assert.equal(
      await readlink(join(root, 'etc/extensions/kubernetes.raw')),
      '/opt/extensions/kubernetes/kubernetes-v1.31.4-x86-64.raw',
    );
    const conf = await readFile(join(root, 'etc/sysupdate.docker.d/docker.conf'), 'utf8');
    assert.match(conf, /MatchPattern=docker-@v-%a\.raw/);
    assert.match(conf, new RegExp(`Path=${fx.env.BAKE_BAKERY_URL}/docker/`.replace(/[.]/g, '\\.')));
  });

  await t.test('--vendor azure makes the vendor image beside the generic one (native route)', async (t) => {
    const release = join(fx.manifest.root, 'alpha/amd64-usr/4790.0.0');
    const oem = await makeSysextImage(join(release, 'oem-azure.raw'), {
      name: 'oem-azure',
      arch: 'x86-64',
      id: 'flatcar',
      files: { 'usr/share/oem/marker': 'azure\n' },
    });
    await signDetached(fx.key, oem.path);
    const ws = await workspace(t, fx.env);
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    const run = await runBake(ws, [
      '--release',
      'alpha',
      '--vendor',
      'azure',
      '--vendor-route',
      'native',
      '--compression',
      'none',
      '--json',
      '--output',
      'out',
      'hello:hello.raw',
    ]);
    assert.equal(run.exitCode, 0, run.stderr);
    const vhd = join(ws.out, 'flatcar_production_azure_image.vhd');
    assert.deepEqual(JSON.parse(run.stdout).outputs.sort(), [join(ws.out, IMAGE), vhd].sort());
    await assertNothingLeft(ws, [IMAGE, 'flatcar_production_azure_image.vhd']);
    const info = JSON.parse((await execa('qemu-img', ['info', '-f', 'vpc', '--output=json', vhd])).stdout);
    assert.equal((await stat(vhd)).size, info['virtual-size'] + 512, 'a fixed VHD: the disk plus a 512-byte footer');
    assert.equal(info['virtual-size'] % (1024 * 1024), 0, 'virtual size aligned to 1 MiB');
    const { oem: genericOem } = await mountImage(t, join(ws.out, IMAGE));
    await assert.rejects(stat(join(genericOem, 'oem-release')), 'the generic image stays generic');
  });

  await t.test('an existing output is kept without --force and replaced with it', async (t) => {
    const ws = await workspace(t, fx.env);
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    await writeFile(join(ws.out, IMAGE), 'precious');
    const refused = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
    assert.equal(refused.exitCode, 8);
    assert.match(refused.stderr, /already exists: pass --force/);
    assert.equal(await readFile(join(ws.out, IMAGE), 'utf8'), 'precious');
    await assertNothingLeft(ws, [IMAGE]);
    const forced = await runBake(ws, ['--force', '--output', 'out', 'hello:hello.raw']);
    assert.equal(forced.exitCode, 0, forced.stderr);
    assert.ok((await stat(join(ws.out, IMAGE))).size > 1024 * 1024);
  });
});
