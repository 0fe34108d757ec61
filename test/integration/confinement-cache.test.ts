/**
 * Issue 20 item 7: the cache. A warm bake trusts the cached decompressed base image without reading it,
 * so only the very file bake wrote may pass: one edited in place with its mtime put back (`touch -r`) is
 * decompressed again, and the cache directory is made owner-only.
 */

import assert from 'node:assert/strict';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { isRootUser } from '../../bake/core/exec.ts';
import { assertNothingLeft, runBake, workspace } from '../support/bake-cli.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { withReleaseMirror } from '../support/fixtures.ts';
import { entriesOf, withCanary } from '../support/host-canary.ts';

const OUTPUT = 'flatcar_production_image.bin';
const TAMPERED = Buffer.from('tampered after the first bake');

async function readAt(path: string, position: number, length: number): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    await file.read(buffer, 0, length, position);
    return buffer;
  } finally {
    await file.close();
  }
}

test("a cached base image changed behind bake's back is not used", {
  skip: !isRootUser() && 'needs root (loop devices)',
}, async (t) => {
  const fx = await withReleaseMirror(t, {
    releases: [{ version: '4593.2.5', channel: 'stable', arches: ['amd64'] }],
    bakery: [],
  });
  const canary = await withCanary(t);
  const ws = await workspace(t, fx.env);
  const cache = join(ws.dir, 'cache');
  ws.env.BAKE_CACHE_DIR = cache;
  await mkdir(cache, { mode: 0o755 });
  await makeSysextImage(join(ws.dir, 'hello.raw'), { name: 'hello', arch: 'x86-64' });
  const before = await entriesOf(ws.dir);

  const first = await runBake(ws, ['--output', 'out', 'hello:hello.raw']);
  assert.equal(first.exitCode, 0, first.stderr);
  assert.equal((await stat(cache)).mode & 0o777, 0o700, 'the cache directory is owner-only');
  const warm = await runBake(ws, ['--force', '-v', '--output', 'out', 'hello:hello.raw']);
  assert.equal(warm.exitCode, 0, warm.stderr);
  assert.doesNotMatch(
    warm.stderr,
    /lbzip2 -d|gpg .*--verify/,
    'the untouched cache is used as it is: neither decompressed nor re-verified',
  );

  // USR-B: a partition bake never writes, so whatever the cached image holds there reaches the output.
  const usrB = fx.manifest.releases[0]!.partitions.find((p) => p.label === 'USR-B')!;
  const offset = usrB.startLba * 512;
  const cached = join(cache, 'releases/stable/amd64-usr/4593.2.5', OUTPUT);
  const times = join(ws.dir, 'times');
  await execa('touch', ['-r', cached, times]);
  const file = await open(cached, 'r+');
  await file.write(TAMPERED, 0, TAMPERED.length, offset);
  await file.close();
  await execa('touch', ['-r', times, cached]);
  await rm(times);
  await rm(join(ws.out, OUTPUT));

  const second = await runBake(ws, ['-v', '--output', 'out', 'hello:hello.raw']);
  assert.equal(second.exitCode, 0, second.stderr);
  assert.match(second.stderr, /lbzip2 -d/, 'decompressed again');
  assert.notDeepEqual(
    await readAt(join(ws.out, OUTPUT), offset, TAMPERED.length),
    TAMPERED,
    'the tampered cache copy was shipped',
  );
  assert.notDeepEqual(await readAt(cached, offset, TAMPERED.length), TAMPERED, 'the cache holds a fresh copy again');
  await assertNothingLeft(ws, [OUTPUT]);
  assert.deepEqual(
    (await entriesOf(ws.dir)).filter((name) => name !== 'cache'),
    before.filter((name) => name !== 'cache'),
  );
  await canary.assertUntouched();
});
