/** `--output DIR` that does not exist yet: made for a bake that publishes, removed again when it fails. */

import assert from 'node:assert/strict';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertNothingLeft, runBake, workspace } from '../support/bake-cli.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror } from '../support/fixtures.ts';

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

test('--output names a directory to create', async (t) => {
  const fx = await withReleaseMirror(t);
  const ws = await workspace(t, fx.env);
  await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
  await writeFile(join(ws.dir, 'junk.raw'), 'not a sysext');

  await t.test('a failed bake leaves no directory it made', async () => {
    const run = await runBake(ws, ['--output', join(ws.out, 'new/deeper'), 'junk:junk.raw']);
    assert.equal(run.exitCode, 3, run.stderr);
    assert.equal(await exists(join(ws.out, 'new')), false);
  });

  await t.test('a bake publishes into a directory it made', async () => {
    const run = await runBake(ws, ['--output', join(ws.out, 'new/deeper'), 'hello:hello.raw']);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(await exists(join(ws.out, 'new/deeper/flatcar_production_image.bin')), true);
    await assertNothingLeft(ws, ['new']);
  });
});
