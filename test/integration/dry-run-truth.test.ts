/**
 * A dry run tells the truth: what the run would reject, it rejects too, with the same exit code; it
 * names every upstream file the run fetches; and inputs that need no network are judged before any.
 * Endpoints nobody listens on (127.0.0.1:9) stand in for a machine without network.
 */

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertOneLineError, runBake, workspace } from '../support/bake-cli.ts';
import { withReleaseMirror } from '../support/fixtures.ts';

const NO_NETWORK = {
  BAKE_RELEASES_JSON: 'http://127.0.0.1:9/releases.json',
  BAKE_RELEASE_URL: 'http://127.0.0.1:9/{channel}/{board}/{version}',
};

test('a dry run rejects what the run rejects, and plans what the run fetches', async (t) => {
  const fx = await withReleaseMirror(t);
  const ws = await workspace(t, fx.env);

  await t.test('an unknown recipe is refused before any network, pointing at --fetch', async () => {
    for (const dryRun of [['--dry-run'], []]) {
      const run = await runBake(ws, [...dryRun, 'nosuch@1.0'], NO_NETWORK);
      assert.equal(run.exitCode, 2, run.stderr);
      assertOneLineError(run, /no recipe builds 'nosuch'.*bake --fetch nosuch@1\.0/);
    }
  });

  await t.test('a release neither releases.json nor the mirror has is "not a known release" (exit 3)', async () => {
    const run = await runBake(ws, ['--dry-run', '--release', '4593.2.99', 'docker@27.3.1']);
    assert.equal(run.exitCode, 3, run.stderr);
    assertOneLineError(run, /4593\.2\.99 is not a known release/);
  });

  await t.test("a recipe's upstream files are in the plan, with what checks them", async () => {
    const run = await runBake(ws, ['--dry-run', '--json', 'docker@27.3.1']);
    assert.equal(run.exitCode, 0, run.stderr);
    const plan = JSON.parse(run.stdout) as {
      sysexts: Array<{ downloads: string[]; checks: Array<{ url: string; checkedBy: string }> }>;
    };
    const [docker] = plan.sysexts;
    assert.deepEqual(docker!.downloads, ['https://download.docker.com/linux/static/stable/x86_64/docker-27.3.1.tgz']);
    assert.match(docker!.checks[0]!.checkedBy, /^nothing: /);
  });

  await t.test('a dry run warns when the output exists (the run needs --force)', async () => {
    await writeFile(join(ws.dir, 'flatcar_production_image.bin'), 'old');
    const run = await runBake(ws, ['--dry-run', 'docker@27.3.1']);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stderr, /flatcar_production_image\.bin exists: .*--force/);
    const forced = await runBake(ws, ['--dry-run', '--force', 'docker@27.3.1']);
    assert.doesNotMatch(forced.stderr, /exists:/);
  });
});

test('inputs that need no network are judged before any network', async (t) => {
  const ws = await workspace(t);
  for (const dryRun of [['--dry-run'], []]) {
    const run = await runBake(ws, [...dryRun, 'docker:nonexistent.raw'], NO_NETWORK);
    assert.equal(run.exitCode, 3, run.stderr);
    assertOneLineError(run, /cannot read sysext file nonexistent\.raw/);
  }
});

test('a network failure names the flag and the variable that point bake elsewhere', async (t) => {
  const ws = await workspace(t);
  const run = await runBake(ws, ['--dry-run', 'docker@27.3.1'], { ...NO_NETWORK, BAKE_HTTP_RETRIES: '0' });
  assert.equal(run.exitCode, 5, run.stderr);
  assertOneLineError(run, /--releases-json URL \(or BAKE_RELEASES_JSON\)/);
});

test('a bad install target is reported under the spelling the user typed', async (t) => {
  const ws = await workspace(t);
  for (const flag of ['--install-to', '--install_to']) {
    const run = await runBake(ws, ['--dry-run', flag, 'root:/usr/lib', 'docker@27.3.1'], NO_NETWORK);
    assert.equal(run.exitCode, 2, run.stderr);
    assertOneLineError(run, new RegExp(`^bake: ${flag} root:/usr/lib`));
  }
});
