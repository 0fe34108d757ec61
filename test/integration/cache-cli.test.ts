/**
 * `bake cache list|prune` on a generated cache: sizes per release (bz2, image), entries of every kind,
 * pruning by age, releases a live bake holds kept, and links planted in the cache removed as links:
 * what they point at is neither counted nor deleted.
 */

import assert from 'node:assert/strict';
import { lutimes, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import type { CacheEntry } from '../../bake/flatcar/cache-entries.ts';
import { assertOneLineError, runBake, type Workspace, workspace } from '../support/bake-cli.ts';

const DAY_MS = 86_400_000;
const OLD = new Date(Date.now() - 60 * DAY_MS);

async function put(path: string, bytes: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, Buffer.alloc(bytes, 1));
}

/** Sets the mtime of everything under `path` (links themselves, not their targets), deepest first. */
async function makeOld(path: string): Promise<void> {
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) await makeOld(join(path, entry.name));
  await lutimes(path, OLD, OLD);
}

async function generatedCache(ws: Workspace) {
  const cache = join(ws.dir, 'cache');
  const outside = join(ws.dir, 'outside');
  await put(join(outside, 'precious'), 1 << 20);
  const stable = join(cache, 'releases/stable/amd64-usr/4081.2.0');
  await put(join(stable, 'flatcar_production_image.bin.bz2'), 64 << 10);
  await put(join(stable, 'flatcar_production_image.bin'), 256 << 10);
  await put(join(stable, 'version.txt'), 100);
  await put(join(cache, 'releases/beta/amd64-usr/4152.1.0/flatcar_production_image.bin.bz2'), 32 << 10);
  const alpha = join(cache, 'releases/alpha/amd64-usr/4200.0.0');
  await put(join(alpha, 'flatcar_production_image.bin.bz2'), 16 << 10);
  await writeFile(join(alpha, '.lock'), `${process.pid}\n${hostname()}\n`); // this test process: a live bake
  await put(join(cache, 'sysext/unpacked', 'a'.repeat(64), 'tree/usr/bin/tool'), 8 << 10);
  await put(join(cache, 'bakery/docker.raw'), 8 << 10);
  await symlink(outside, join(cache, 'bakery/planted'));
  await symlink(outside, join(cache, 'releases/stable/amd64-usr/planted'));
  await symlink(outside, join(cache, 'keys')); // a whole kind folder that leads out of the cache
  for (const old of [
    stable,
    alpha,
    join(cache, 'sysext'),
    join(cache, 'bakery/planted'),
    join(cache, 'releases/stable/amd64-usr/planted'),
  ])
    await makeOld(old);
  return { cache, outside, env: { BAKE_CACHE_DIR: cache } };
}

const names = (entries: CacheEntry[]) => entries.map((entry) => `${entry.kind} ${entry.name}`).sort();

test('cache list shows each release with its bz2 and image sizes and never looks through a link', async (t) => {
  const ws = await workspace(t);
  const { env } = await generatedCache(ws);
  const run = await runBake(ws, ['cache', 'list', '--json'], env);
  assert.equal(run.exitCode, 0, run.stderr);
  const { entries } = JSON.parse(run.stdout) as { entries: CacheEntry[] };
  assert.deepEqual(names(entries), [
    'bakery docker.raw',
    'bakery planted',
    'release alpha/amd64-usr/4200.0.0',
    'release beta/amd64-usr/4152.1.0',
    'release stable/amd64-usr/4081.2.0',
    'release stable/amd64-usr/planted',
    `unpacked ${'a'.repeat(64)}`,
  ]);
  const stable = entries.find((entry) => entry.name === 'stable/amd64-usr/4081.2.0')!;
  assert.ok(stable.parts!.bz2 >= 64 << 10 && stable.parts!.image >= 256 << 10, JSON.stringify(stable));
  for (const planted of entries.filter((entry) => entry.name.endsWith('planted')))
    assert.ok(planted.bytes < 1 << 20, 'a link is not its target');
  const text = await runBake(ws, ['cache', 'list'], env);
  assert.match(text.stdout, /^release\s+stable\/amd64-usr\/4081\.2\.0\s+.*bz2 64\.0 KiB, image 256\.0 KiB/m);
});

test('cache prune --older-than removes old entries, keeps what a bake holds and what links point at', async (t) => {
  const ws = await workspace(t);
  const { cache, outside, env } = await generatedCache(ws);
  const run = await runBake(ws, ['cache', 'prune', '--older-than', '30d', '--json'], env);
  assert.equal(run.exitCode, 0, run.stderr);
  const result = JSON.parse(run.stdout) as { removed: CacheEntry[]; inUse: CacheEntry[] };
  assert.deepEqual(names(result.removed), [
    'bakery planted',
    'release stable/amd64-usr/4081.2.0',
    'release stable/amd64-usr/planted',
    `unpacked ${'a'.repeat(64)}`,
  ]);
  assert.deepEqual(names(result.inUse), ['release alpha/amd64-usr/4200.0.0']);
  assert.equal((await readFile(join(outside, 'precious'))).length, 1 << 20, 'the link target is untouched');
  assert.deepEqual(await readdir(join(cache, 'releases/stable/amd64-usr')), []);
  assert.ok(
    (await readdir(join(cache, 'releases/alpha/amd64-usr/4200.0.0'))).includes('.lock'),
    'the bake keeps its lock',
  );

  const all = await runBake(ws, ['cache', 'prune'], env);
  assert.equal(all.exitCode, 0, all.stderr);
  assert.match(all.stdout, /^removed release beta\/amd64-usr\/4152\.1\.0/m);
  assert.match(all.stdout, /^kept release alpha\/amd64-usr\/4200\.0\.0: a bake is using it$/m);
  assert.deepEqual(await readdir(join(cache, 'bakery')), []);
});

test('cache prune refuses an age it cannot read', async (t) => {
  const ws = await workspace(t);
  const run = await runBake(ws, ['cache', 'prune', '--older-than', '30'], { BAKE_CACHE_DIR: join(ws.dir, 'cache') });
  assert.equal(run.exitCode, 2);
  assertOneLineError(run, /cannot read --older-than '30': give hours, days or weeks/);
});
