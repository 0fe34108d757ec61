/**
 * A vendor bake whose mirror lacks a file the vendor route fetches later (here oem-azure.raw) is told so
 * before the release is downloaded and decompressed, with the missing URL, as an input error.
 */

import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertNothingLeft, assertOneLineError, runBake, workspace } from '../support/bake-cli.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror } from '../support/fixtures.ts';

test('a vendor bake names the files its mirror lacks before decompressing the release', async (t) => {
  const fx = await withReleaseMirror(t);
  const ws = await workspace(t, fx.env);
  const release = join(fx.scratch, 'www/beta/amd64-usr/4757.1.0');
  // The default fixture mirror carries no OEM payloads: the case of a plain release mirror.
  await assert.rejects(access(join(release, 'oem-azure.raw')));
  await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });

  const run = await runBake(ws, ['--release', 'beta', '--vendor', 'azure', '--output', ws.out, 'hello:hello.raw']);
  assert.equal(run.exitCode, 3, run.stderr);
  assertOneLineError(run, /the azure image needs files that do not exist: \S+\/oem-azure\.raw: .*--release-url/);
  const cached = join(fx.env.BAKE_CACHE_DIR, 'releases/beta/amd64-usr/4757.1.0/flatcar_production_image.bin.bz2');
  assert.equal(
    await access(cached).then(
      () => true,
      () => false,
    ),
    false,
    'the release was downloaded before the check',
  );
  await assertNothingLeft(ws);
});
