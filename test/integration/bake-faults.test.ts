/**
 * Bad input and faults: each ends with a one-line error that names the problem and the fix, a non-zero
 * exit, and nothing left behind (no mount, loop device, temp file or partial output).
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { assertNothingLeft, assertOneLineError, runBake, workspace } from '../support/bake-cli.ts';
import { signDetached } from '../support/fixtures/gpg.ts';
import { versionTxt } from '../support/fixtures/release-tree.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror, withSigningKey } from '../support/fixtures.ts';

const IMAGE_PATH = /^\/stable\/amd64-usr\/4593\.2\.5\/flatcar_production_image\.bin\.bz2$/;
const IMAGE_SIG = /^\/stable\/amd64-usr\/4593\.2\.5\/flatcar_production_image\.bin\.bz2\.sig$/;
const IMAGE_DIGESTS = /^\/stable\/amd64-usr\/4593\.2\.5\/flatcar_production_image\.bin\.bz2\.DIGESTS$/;
const IMAGE_DIGESTS_SIG = /^\/stable\/amd64-usr\/4593\.2\.5\/flatcar_production_image\.bin\.bz2\.DIGESTS\.sig$/;
const DIGESTS_MISMATCH =
  /flatcar_production_image\.bin\.bz2 does not match the SHA-512 in its signed flatcar_production_image\.bin\.bz2\.DIGESTS \(corrupt or tampered\)/;
const SIGNATURE_MISMATCH = /bad signature on flatcar_production_image\.bin\.bz2: the signature does not match the file/;

test('bake faults', async (t) => {
  const fx = await withReleaseMirror(t, { releases: [{ version: '4593.2.5', channel: 'stable', arches: ['amd64'] }] });
  const fresh = async (t: TestContext, env: Record<string, string> = {}) => {
    const ws = await workspace(t, { ...fx.env, BAKE_HTTP_RETRIES: '1', ...env });
    ws.env.BAKE_CACHE_DIR = join(ws.dir, 'cache'); // each case starts cold, so faults hit real downloads
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    return ws;
  };

  await t.test('bad arguments are usage errors (exit 2)', async (t) => {
    const ws = await fresh(t);
    const cases: Array<[string[], RegExp]> = [
      [[], /no sysexts given/],
      [[':hello.raw'], /empty sysext name/],
      [['a/b:hello.raw'], /invalid sysext name 'a\/b'/],
      [['..:hello.raw'], /invalid sysext name '\.\.'/],
      [['he llo:hello.raw'], /invalid sysext name/],
      [['hello'], /not name:file or name@version/],
      [['--install_to', 'usr:/x', 'hello:hello.raw'], /unknown partition 'usr'/],
      [['--install_to', 'root:opt/ext', 'hello:hello.raw'], /'opt\/ext' is not an absolute path/],
      [['--install_to', 'root:/opt/../../etc', 'hello:hello.raw'], /is not normalised \(it contains '\.' or '\.\.'\)/],
      [['--vendor', 'am', 'hello:hello.raw'], /unknown vendor 'am'/],
      [['--arch', 'sparc', 'hello:hello.raw'], /unknown arch 'sparc'/],
      [['--release', 'edge', 'hello:hello.raw'], /'edge' is neither a channel nor a version/],
      [['--release', '4593.2', 'hello:hello.raw'], /neither a channel nor a version/],
      [['hello:hello.raw', 'hello:hello.raw'], /named twice/],
      [['--smoke-test', '--smoke-timeout', '5', 'hello:hello.raw'], /--smoke-timeout must be a whole number from 10/],
    ];
    for (const [args, pattern] of cases) {
      const run = await runBake(ws, ['--output', 'out', ...args]);
      assertOneLineError(run, pattern);
      assert.equal(run.exitCode, 2, args.join(' '));
    }
    await assertNothingLeft(ws);
  });

  await t.test(
    'sysext files that are missing, not images, or would never merge are refused before any download',
    async (t) => {
      const ws = await fresh(t);
      await mkdir(join(ws.dir, 'adir'));
      await writeFile(join(ws.dir, 'random.raw'), randomBytes(256 * 1024));
      await makeSysextImage(join(ws.dir, 'other.raw'), {
        name: 'hello',
        arch: 'x86-64',
        extensionReleaseName: 'other',
      });
      await makeSysextImage(join(ws.dir, 'arm.raw'), { name: 'hello', arch: 'arm64', format: 'erofs' });
      await makeSysextImage(join(ws.dir, 'bare.raw'), {
        name: 'hello',
        arch: 'x86-64',
        format: 'ext4',
        omitExtensionRelease: true,
      });
      const before = fx.mirror.requests.filter((r) => IMAGE_PATH.test(r.path)).length;
      const cases: Array<[string, RegExp]> = [
        ['hello:missing.raw', /cannot read sysext file missing\.raw for 'hello'/],
        ['hello:adir', /adir is not a file/],
        ['hello:random.raw', /random\.raw is not a sysext image: expected a squashfs, erofs, ext4 or btrfs/],
        ['hello:other.raw', /is not a sysext named 'hello': it carries extension-release\.other/],
        ['hello:arm.raw', /is built for arm64, not x86-64/],
        ['hello:bare.raw', /has no usr\/lib\/extension-release\.d\/extension-release\.\*/],
      ];
      for (const [arg, pattern] of cases) {
        const run = await runBake(ws, ['--output', 'out', arg]);
        assertOneLineError(run, pattern);
        assert.equal(run.exitCode, 3, arg);
      }
      assert.equal(
        fx.mirror.requests.filter((r) => IMAGE_PATH.test(r.path)).length,
        before,
        'the release image was never requested',
      );
      await assertNothingLeft(ws);
    },
  );

  await t.test(
    'a release that is neither in releases.json nor on the server is not a known release (exit 3)',
    async (t) => {
      const ws = await fresh(t);
      const run = await runBake(ws, ['--release', '9999.2.0', '--output', 'out', 'hello:hello.raw']);
      assertOneLineError(
        run,
        /9999\.2\.0 is not a known release: .*http:\/\/127\.0\.0\.1:\d+\/stable\/amd64-usr\/9999\.2\.0\/version\.txt does not exist/,
      );
      assert.equal(run.exitCode, 3);
      await assertNothingLeft(ws);
    },
  );

  await t.test('server errors fail after the retries', async (t) => {
    const ws = await fresh(t);
    fx.mirror.fault(IMAGE_PATH, { status: 500, times: 10 });
    const run = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
    fx.mirror.clearFaults();
    assertOneLineError(run, /500 Internal Server Error from .*flatcar_production_image\.bin\.bz2 after 2 attempts/);
    await assertNothingLeft(ws);
  });

  await t.test('a connection dropped mid-body is resumed with a Range request', async (t) => {
    const ws = await fresh(t);
    fx.mirror.fault(IMAGE_PATH, { dropAfterBytes: 4096, times: 1 });
    const run = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.ok(
      fx.mirror.requests.some((r) => IMAGE_PATH.test(r.path) && r.range === 'bytes=4096-'),
      'resumed from byte 4096',
    );
    await assertNothingLeft(ws, ['flatcar_production_image.bin']);
  });

  // Each image check: by the signed checksum list, and by the image's own signature where a mirror has no list.
  const checks = [
    { by: 'its signed DIGESTS', faults: [], mismatch: DIGESTS_MISMATCH },
    { by: 'its own signature', faults: [IMAGE_DIGESTS], mismatch: SIGNATURE_MISMATCH },
  ];
  for (const check of checks) {
    await t.test(
      `checked by ${check.by}, a download that starts over discards what gpg, the hash and the decoder read of the first attempt`,
      async (t) => {
        // The first attempt sends good bytes and drops; the server then (after a pause in which the
        // followers read them) ignores the Range and sends a whole file whose first byte differs. The bytes
        // read during the first attempt must not vouch for it.
        const ws = await fresh(t);
        for (const path of check.faults) fx.mirror.fault(path, { status: 404, times: 1 });
        fx.mirror.fault(IMAGE_PATH, { dropAfterBytes: 4096, times: 1 });
        fx.mirror.fault(IMAGE_PATH, { ignoreRange: true, corrupt: true, delayMs: 500, times: 1 });
        const run = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
        fx.mirror.clearFaults();
        assert.ok(
          fx.mirror.requests.some((r) => IMAGE_PATH.test(r.path) && r.range === 'bytes=4096-' && r.status === 200),
          'the resume was answered with the whole file',
        );
        assertOneLineError(run, check.mismatch);
        assert.equal(run.exitCode, 6);
        await assertNothingLeft(ws);
      },
    );

    await t.test(
      `checked by ${check.by}, wrong bytes are refused, dropped from the cache, and the next run recovers`,
      async (t) => {
        const ws = await fresh(t);
        for (const path of check.faults) fx.mirror.fault(path, { status: 404, times: 1 });
        fx.mirror.fault(IMAGE_PATH, { corrupt: true, times: 1 });
        const run = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
        fx.mirror.clearFaults();
        assertOneLineError(run, check.mismatch);
        assert.equal(run.exitCode, 6);
        await assertNothingLeft(ws);
        const cached = await readdir(join(ws.env.BAKE_CACHE_DIR!, 'releases/stable/amd64-usr/4593.2.5'));
        assert.ok(!cached.includes('flatcar_production_image.bin.bz2'), 'the bad download was deleted');
        const retry = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
        assert.equal(retry.exitCode, 0, retry.stderr);
      },
    );
  }

  await t.test('without a signed DIGESTS on the mirror, the image is checked by its own signature', async (t) => {
    const ws = await fresh(t);
    fx.mirror.fault(IMAGE_DIGESTS_SIG, { status: 404, times: 1 });
    const before = fx.mirror.requests.length;
    const run = await runBake(ws, ['--verbose', '--output', 'out', 'hello:hello.raw']);
    assert.equal(run.exitCode, 0, run.stderr);
    const requested = fx.mirror.requests
      .slice(before)
      .filter((r) => r.status === 200)
      .map((r) => r.path);
    assert.ok(
      requested.some((path) => IMAGE_SIG.test(path)),
      'the signature was fetched',
    );
    assert.match(
      run.stderr,
      /gpg .*--verify \S+flatcar_production_image\.bin\.bz2\.sig -/,
      'gpg checked the image as it downloaded',
    );
    await assertNothingLeft(ws, ['flatcar_production_image.bin']);
  });

  await t.test('a DIGESTS whose signature does not match is refused, not worked around', async (t) => {
    const ws = await fresh(t);
    fx.mirror.fault(IMAGE_DIGESTS, { corrupt: true, times: 1 });
    const run = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
    fx.mirror.clearFaults();
    assertOneLineError(
      run,
      /bad signature on flatcar_production_image\.bin\.bz2\.DIGESTS: the signature does not match the file/,
    );
    assert.equal(run.exitCode, 6);
    await assertNothingLeft(ws);
  });

  await t.test('a connection dropped on every attempt fails cleanly', async (t) => {
    const ws = await fresh(t);
    fx.mirror.fault(IMAGE_PATH, { dropAfterBytes: 1024, times: 10 });
    const run = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
    fx.mirror.clearFaults();
    assertOneLineError(run, /flatcar_production_image\.bin\.bz2/);
    assert.equal(run.exitCode, 5);
    await assertNothingLeft(ws);
  });

  await t.test('an image with neither a signed DIGESTS nor a signature fails closed', async (t) => {
    const ws = await fresh(t);
    fx.mirror.fault(IMAGE_DIGESTS, { status: 404, times: 1 });
    fx.mirror.fault(IMAGE_SIG, { status: 404, times: 1 });
    const run = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
    fx.mirror.clearFaults();
    assertOneLineError(run, /not found: .*flatcar_production_image\.bin\.bz2\.sig/);
    await assertNothingLeft(ws);
  });

  await t.test('a signature made by another key is refused', async (t) => {
    const other = await withSigningKey(t, { name: 'Someone Else' });
    const ws = await fresh(t, { BAKE_SIGNING_KEY: other.publicKeyPath });
    const run = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
    assertOneLineError(
      run,
      /bad signature on version\.txt: the signature was made by a key that is not the signing key/,
    );
    assert.equal(run.exitCode, 6);
    await assertNothingLeft(ws);
  });

  await t.test('a truncated (but signed) bz2 is reported as a broken archive', async (t) => {
    const version = '4593.2.6';
    const source = join(fx.manifest.root, 'stable/amd64-usr/4593.2.5');
    const broken = join(fx.manifest.root, 'stable/amd64-usr', version);
    await mkdir(broken, { recursive: true });
    await copyFile(join(source, 'flatcar_production_image.bin.bz2'), join(broken, 'flatcar_production_image.bin.bz2'));
    await truncate(
      join(broken, 'flatcar_production_image.bin.bz2'),
      Math.floor((await stat(join(source, 'flatcar_production_image.bin.bz2'))).size / 2),
    );
    await writeFile(join(broken, 'version.txt'), versionTxt(version));
    await signDetached(fx.key, join(broken, 'flatcar_production_image.bin.bz2'));
    await signDetached(fx.key, join(broken, 'version.txt'));
    const ws = await fresh(t);
    const run = await runBake(ws, ['--release', version, '--output', 'out', 'hello:hello.raw']);
    assertOneLineError(run, /flatcar_production_image\.bin\.bz2 is not a complete bz2 archive/);
    await assertNothingLeft(ws);
  });

  await t.test('--fetch refuses a bakery file that does not match SHA256SUMS or is not listed', async (t) => {
    const ws = await fresh(t);
    fx.mirror.fault(/^\/extensions\/hello-1\.1\.0-x86-64\.raw$/, { corrupt: true, times: 1 });
    const corrupt = await runBake(ws, ['--fetch', '--output', 'out', 'hello:hello-1.1.0-x86-64.raw']);
    assertOneLineError(corrupt, /SHA-256 mismatch for .*hello-1\.1\.0-x86-64\.raw/);
    assert.equal(corrupt.exitCode, 6);
    const unlisted = await runBake(ws, ['--fetch', '--output', 'out', 'hello:hello-9.9.9-x86-64.raw']);
    assertOneLineError(unlisted, /hello-9\.9\.9-x86-64\.raw is not listed in the bakery's SHA256SUMS/);
    await assertNothingLeft(ws);
  });

  await t.test('a full OEM partition fails with the sizes, before anything is written', async (t) => {
    const ws = await fresh(t);
    await makeSysextImage(join(ws.dir, 'big.raw'), {
      name: 'big',
      arch: 'x86-64',
      files: { 'usr/share/big': randomBytes(48 * 1024 * 1024).toString('base64') },
    });
    const run = await runBake(ws, ['--install_to', 'oem:/x', '--output', 'out', 'big:big.raw']);
    assertOneLineError(run, /the sysexts for OEM need \d+\.\d MiB but OEM has \d+\.\d MiB free: install them to ROOT/);
    assert.equal(run.exitCode, 7);
    await assertNothingLeft(ws);
  });
});
