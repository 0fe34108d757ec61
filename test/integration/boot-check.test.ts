/**
 * `bake boot --check` for real: a bootable Flatcar-like image (Debian 13 systemd root, Debian kernel,
 * Flatcar's partition layout) is served as a signed release, the real `bake` bakes a sysext that ships a
 * unit into it, and QEMU (TCG) boots it. The check must pass only when the guest's systemd-sysext merged
 * the extension and its unit ran; an image with wrong metadata and a missing extension must fail it.
 * Each VM run is bounded by --timeout and by the execa timeout behind it.
 */

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import type { BootReport } from '../../bake/boot/check.ts';
import { sha256Text } from '../../bake/vendor/scripts-trust.ts';
import { assertNothingLeft, runBake, workspace } from '../support/bake-cli.ts';
import { bootCheck, HELLO_FILES, qemuLeft, serviceFiles, VM_SECONDS } from '../support/boot-cli.ts';
import { bootableDiskOptions } from '../support/fixtures/bootable.ts';
import { makeFlatcarDisk } from '../support/fixtures/disk-image.ts';
import { signDetached } from '../support/fixtures/gpg.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror, withTempDir } from '../support/fixtures.ts';
import { QEMU_TEMPLATE_STANDIN } from '../support/vendor-fixture.ts';

const IMAGE = 'flatcar_production_image.bin';

// Three bakes and boots, ~11 min on a host three times slower than usual, at most ~20 with every bound reached.
test('bake boot --check', { timeout: 30 * 60_000 }, async (t) => {
  const staging = await withTempDir(t, 'bake-boot-fixture');
  const disk = await bootableDiskOptions(staging);
  const fx = await withReleaseMirror(t, {
    releases: [{ version: '4593.2.5', channel: 'stable', arches: ['amd64'], disk }],
    bakery: [],
  });

  await t.test('passes when the baked extension is merged and its unit ran', async (t) => {
    const ws = await workspace(t, fx.env);
    await makeSysextImage(join(ws.dir, 'hello.raw'), {
      name: 'hello',
      arch: 'x86-64',
      id: 'flatcar',
      files: HELLO_FILES,
    });
    const baked = await runBake(ws, ['--release', '4593.2.5', '--output', 'out', 'hello:hello.raw']);
    assert.equal(baked.exitCode, 0, baked.stderr);
    const { exitCode, report, stderr } = await bootCheck(ws, join(ws.out, IMAGE));
    assert.equal(exitCode, 0, `${stderr}\n${JSON.stringify(report, null, 2)}`);
    assert.equal(report.accel, 'tcg');
    const hello = report.extensions.find((extension) => extension.name === 'hello');
    assert.equal(hello?.merged, true);
    assert.equal(hello?.image, '/opt/extensions/hello/hello.raw');
    assert.deepEqual(
      hello?.units.map((unit) => [unit.unit, unit.ok, unit.activeState]),
      [['hello.service', true, 'active']],
    );
    assert.ok(
      report.sysextStatus.some((line) => /\/usr\s+hello/.test(line)),
      report.sysextStatus.join('\n'),
    );
    await assertNothingLeft(ws, [IMAGE]);
    assert.equal(await qemuLeft(), '');
  });

  await t.test('fails for an extension with wrong metadata and for a missing one', async (t) => {
    const ws = await workspace(t, fx.env);
    // bake refuses an image whose extension-release is named for another extension, so this one is placed by hand.
    const broken = await makeSysextImage(join(ws.dir, 'broken.raw'), {
      name: 'broken',
      arch: 'x86-64',
      id: 'flatcar',
      extensionReleaseName: 'other',
      files: serviceFiles('broken', '/bin/true'),
    });
    const image = join(ws.dir, IMAGE);
    await makeFlatcarDisk(
      image,
      await bootableDiskOptions(await withTempDir(t, 'bake-boot-broken'), {
        rootFiles: {
          'opt/extensions/broken/broken.raw': { copyFrom: broken.path },
          'etc/extensions/broken.raw': { symlink: '/opt/extensions/broken/broken.raw' },
          // journald comes up only after systemd-sysext has failed and exited, as on a slow boot: it then reads
          // the complaint with no process left to tell it the unit, and the check must still find it.
          'etc/systemd/system/systemd-journald.service.d/10-late.conf': '[Service]\nExecStartPre=/bin/sleep 8\n',
        },
      }),
    );
    const { exitCode, report } = await bootCheck(ws, image, ['--extension', 'broken', '--extension', 'missing']);
    assert.equal(exitCode, 9, JSON.stringify(report, null, 2));
    assert.equal(report.pass, false);
    assert.equal(report.problem, undefined, 'the guest reported; the extensions failed');
    const byName = Object.fromEntries(report.extensions.map((extension) => [extension.name, extension]));
    assert.equal(byName.broken?.merged, false);
    // One unsuitable image fails systemd-sysext.service as a whole; the report passes on its reason.
    assert.match(
      byName.broken?.problem ?? '',
      /^not merged by systemd-sysext \(systemd-sysext\.service failed: .*\bbroken\b/,
      report.sysextLog.join('\n'),
    );
    assert.deepEqual(
      byName.broken?.units.map((unit) => [unit.unit, unit.ok]),
      [['broken.service', false]],
    );
    assert.equal(byName.missing?.merged, false);
    assert.match(byName.missing?.problem ?? '', /^not merged/);
    assert.equal(await qemuLeft(), '');
  });

  await t.test(
    'bake --vendor qemu_uefi --smoke-test bakes, converts, boots the qcow2 and publishes only after it passed',
    async (t) => {
      const release = join(fx.manifest.root, 'stable/amd64-usr/4593.2.5');
      const oem = await makeSysextImage(join(release, 'oem-qemu.raw'), {
        name: 'oem-qemu',
        arch: 'x86-64',
        id: 'flatcar',
        files: { 'usr/share/oem/marker': 'qemu\n' },
      });
      await signDetached(fx.key, oem.path);
      const template = join(fx.manifest.root, 'flatcar/scripts/raw/stable-4593.2.5/build_library/qemu_template.sh');
      await mkdir(dirname(template), { recursive: true });
      await writeFile(template, QEMU_TEMPLATE_STANDIN);
      const ws = await workspace(t, {
        ...fx.env,
        BAKE_SCRIPTS_FILE_URL: `${fx.mirror.url}/flatcar/scripts/raw/{tag}/{path}`,
      });
      await makeSysextImage(join(ws.dir, 'hello.raw'), {
        name: 'hello',
        arch: 'x86-64',
        id: 'flatcar',
        files: HELLO_FILES,
      });
      // The boot gets the same VM_SECONDS as the checks above (--smoke-timeout); the bake and the
      // conversion up to three more minutes on a slow host.
      const bakeAndBootMs = (VM_SECONDS + 180) * 1000;
      const run = await runBake(
        ws,
        [
          '--release',
          '4593.2.5',
          '--vendor',
          'qemu_uefi',
          '--vendor-route',
          'native',
          '--compression',
          'none',
          '--smoke-test',
          '--smoke-timeout',
          String(VM_SECONDS),
          '--insecure-scripts',
          '--scripts-sha256',
          sha256Text(QEMU_TEMPLATE_STANDIN),
          '--json',
          '--output',
          'out',
          'hello:hello.raw',
        ],
        {},
        bakeAndBootMs,
      );
      assert.equal(run.exitCode, 0, run.stderr);
      const result = JSON.parse(run.stdout) as { outputs: string[]; smokeTest: BootReport };
      assert.equal(result.smokeTest.pass, true);
      const hello = result.smokeTest.extensions.find((extension) => extension.name === 'hello');
      assert.deepEqual([hello?.merged, hello?.units.map((unit) => unit.ok)], [true, [true]]);
      assert.ok(
        result.outputs.some((output) => output.endsWith('/flatcar_production_qemu_uefi_image.img')),
        result.outputs.join('\n'),
      );
      assert.ok(result.outputs.some((output) => output.endsWith('/flatcar_production_image.bin')));
      assert.equal(await qemuLeft(), '');
    },
  );
});
