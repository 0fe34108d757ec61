/**
 * The real CLI against a release mirror on 127.0.0.1 that turns hostile: endless and trickling small
 * files, escape sequences in what it serves, a DIGESTS that names the image twice, an image and DIGESTS
 * republished between runs. Each ends in a clean, one-line failure or a bake that succeeds.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { execa } from 'execa';
import { assertNothingLeft, assertOneLineError, runBake, startBake, workspace } from '../support/bake-cli.ts';
import { signDetached } from '../support/fixtures/gpg.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror } from '../support/fixtures.ts';

const RELEASE_DIR = 'stable/amd64-usr/4593.2.5';
const IMAGE = 'flatcar_production_image.bin.bz2';
const VERSION_TXT = /\/4593\.2\.5\/version\.txt$/;
const IMAGE_PATH = /\/4593\.2\.5\/flatcar_production_image\.bin\.bz2$/;
const SMALL_FILES = /\/4593\.2\.5\/(version\.txt|flatcar_production_image\.bin\.bz2\.DIGESTS)$/;
/** A bake that never ends fails the test this long after it started, instead of hanging the suite. */
const NEVER_MS = 90_000;

/** Every file name in the release cache, `.partial` files included. */
async function cachedFiles(cacheDir: string): Promise<string[]> {
  return readdir(join(cacheDir, 'releases', RELEASE_DIR)).catch(() => []);
}

/** A `.DIGESTS` as Flatcar writes it (docs/flatcar-facts.md §4), with the given SHA-512 lines, signed. */
async function writeSignedDigests(
  key: Parameters<typeof signDetached>[0],
  path: string,
  lines: string[],
): Promise<void> {
  await writeFile(path, `# SHA512 HASH\n${lines.join('\n')}\n`);
  await signDetached(key, path);
}

test('bake against a hostile mirror', async (t) => {
  const fx = await withReleaseMirror(t, { releases: [{ version: '4593.2.5', channel: 'stable', arches: ['amd64'] }] });
  const releaseRoot = join(fx.manifest.root, RELEASE_DIR);
  const fresh = async (t: TestContext) => {
    const ws = await workspace(t, { ...fx.env, BAKE_HTTP_RETRIES: '1' });
    ws.env.BAKE_CACHE_DIR = join(ws.dir, 'cache');
    await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
    return ws;
  };
  const bake = (ws: Awaited<ReturnType<typeof fresh>>, env: Record<string, string> = {}) =>
    runBake(ws, ['--output', 'out', 'hello:hello.raw'], env, NEVER_MS);

  await t.test('escape sequences the server sends are printed escaped, not to the terminal', async (t) => {
    const ws = await fresh(t);
    const releasesJson = join(fx.manifest.root, 'hostile-releases.json');
    await writeFile(releasesJson, '\x1b]0;owned\x07\x1b[2J{"4593.2.5":');
    const run = await bake(ws, { BAKE_RELEASES_JSON: `${fx.mirror.url}/hostile-releases.json` });
    assertOneLineError(run, /invalid JSON from .*hostile-releases\.json: .*\\x1b\]0;owned\\x07/);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the assertion is that none reach the terminal
    assert.doesNotMatch(run.stderr, /\x1b|\x07/);
    assert.equal(run.exitCode, 5);
  });

  await t.test('endless version.txt and DIGESTS stop at their size limit and leave no partial file', async (t) => {
    const ws = await fresh(t);
    fx.mirror.fault(SMALL_FILES, { endless: true, times: 10 });
    const run = await bake(ws);
    fx.mirror.clearFaults();
    assertOneLineError(run, /(version\.txt|\.DIGESTS) is larger than the 64 KiB such a file may be/);
    assert.equal(run.exitCode, 5);
    assert.deepEqual(
      (await cachedFiles(ws.env.BAKE_CACHE_DIR!)).filter((name) => name.includes('.partial')),
      [],
    );
    await assertNothingLeft(ws);
  });

  await t.test('Ctrl-C while a small file trickles in leaves no partial file, as the message says', async (t) => {
    const ws = await fresh(t);
    fx.mirror.fault(VERSION_TXT, { trickleMs: 100, times: 10 });
    const earlier = fx.mirror.requests.length;
    const child = startBake(ws, ['--output', 'out', 'hello:hello.raw'], {}, NEVER_MS);
    while (!fx.mirror.requests.slice(earlier).some((r) => VERSION_TXT.test(r.path)))
      await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 300)); // some bytes reach the partial file
    child.kill('SIGINT');
    const result = await child;
    fx.mirror.clearFaults();
    assert.equal(result.exitCode, 130, `${String(result.stderr)} ${result.signal}`);
    assert.match(
      String(result.stderr),
      /bake: interrupted by SIGINT: partial downloads in the cache resume on the next run; nothing else was left behind/,
    );
    assert.deepEqual(
      (await cachedFiles(ws.env.BAKE_CACHE_DIR!)).filter((name) => name.includes('.partial')),
      [],
    );
    await assertNothingLeft(ws);
  });

  await t.test('a signed DIGESTS that lists the image twice, or by a path, is refused', async (t) => {
    const digests = join(releaseRoot, `${IMAGE}.DIGESTS`);
    const original = await Promise.all([readFile(digests), readFile(`${digests}.sig`)]);
    t.after(() => Promise.all([writeFile(digests, original[0]), writeFile(`${digests}.sig`, original[1])]));
    const sha512 = createHash('sha512')
      .update(await readFile(join(releaseRoot, IMAGE)))
      .digest('hex');
    for (const lines of [[`${sha512}  ${IMAGE}`, `${'0'.repeat(128)}  ${IMAGE}`], [`${sha512}  ../${IMAGE}`]]) {
      await writeSignedDigests(fx.key, digests, lines);
      const ws = await fresh(t);
      const run = await bake(ws);
      assertOneLineError(
        run,
        /flatcar_production_image\.bin\.bz2\.DIGESTS does not list exactly one SHA-512 for flatcar_production_image\.bin\.bz2/,
      );
      assert.equal(run.exitCode, 6);
      await assertNothingLeft(ws);
    }
  });

  // Last: it republishes the release for good.
  await t.test('an image and DIGESTS republished between runs are not spliced, and a retry succeeds', async (t) => {
    const ws = await fresh(t);
    fx.mirror.fault(IMAGE_PATH, { dropAfterBytes: 4096, times: 2 });
    const interrupted = await bake(ws);
    assert.equal(interrupted.exitCode, 5, interrupted.stderr);
    assert.ok(
      (await cachedFiles(ws.env.BAKE_CACHE_DIR!)).includes(`${IMAGE}.partial`),
      'a resumable partial image is kept',
    );

    // Upstream republishes: the same disk compressed anew, with a new signature and DIGESTS.
    const image = join(releaseRoot, IMAGE);
    const { stdout } = await execa('sh', ['-c', 'bzip2 -dc "$1" | bzip2 -1', 'sh', image], {
      encoding: 'buffer',
      maxBuffer: 1 << 30,
    });
    await writeFile(image, stdout);
    await signDetached(fx.key, image);
    await writeSignedDigests(fx.key, `${image}.DIGESTS`, [
      `${createHash('sha512').update(stdout).digest('hex')}  ${IMAGE}`,
    ]);

    const resumed = await bake(ws);
    assert.ok(
      fx.mirror.requests.some((r) => IMAGE_PATH.test(r.path) && r.range !== undefined && r.status === 200),
      'the resume asked for the old version and got the whole new one',
    );
    // The cached DIGESTS is the old one: this run may fail, but must clear it so the next one succeeds.
    const retry = resumed.exitCode === 0 ? resumed : await bake(ws);
    assert.equal(retry.exitCode, 0, retry.stderr);
    await assertNothingLeft(ws, ['flatcar_production_image.bin']);
  });
});
