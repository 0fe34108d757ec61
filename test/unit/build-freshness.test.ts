import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BUILD_CONFIG, BUILD_STAMP, compiledBuildIsFresh } from '../../bin/build-freshness.js';

const SOURCE_DIRS = ['bake', 'sysexts', 'vendors'];

async function checkout(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'bake-fresh-'));
  await writeFile(join(root, BUILD_CONFIG), JSON.stringify({ include: SOURCE_DIRS }));
  for (const dir of SOURCE_DIRS) await mkdir(join(root, dir, 'nested'), { recursive: true });
  await writeFile(join(root, 'bake', 'cli.ts'), '');
  await writeFile(join(root, 'sysexts', 'nested', 'recipe.ts'), '');
  return root;
}

async function age(path: string, secondsAgo: number): Promise<void> {
  const when = new Date(Date.now() - secondsAgo * 1000);
  await utimes(path, when, when);
}

test('the compiled build runs only while no TypeScript source is newer than its stamp', async (t) => {
  const root = await checkout();
  t.after(() => rm(root, { recursive: true, force: true }));
  assert.equal(compiledBuildIsFresh(root), false, 'no build yet');
  await mkdir(join(root, 'dist'));
  await age(join(root, 'bake', 'cli.ts'), 60);
  await age(join(root, 'sysexts', 'nested', 'recipe.ts'), 60);
  await writeFile(join(root, BUILD_STAMP), '');
  // Well apart from the edits below: file times come from a coarse clock, so "now" twice can be equal.
  await age(join(root, BUILD_STAMP), 30);
  assert.equal(compiledBuildIsFresh(root), true, 'built after the last edit');
  await writeFile(join(root, 'sysexts', 'nested', 'recipe.ts'), '// edited');
  assert.equal(compiledBuildIsFresh(root), false, 'a recipe edited after the build');
  await age(join(root, 'sysexts', 'nested', 'recipe.ts'), 60);
  await writeFile(join(root, 'vendors', 'new.ts'), '');
  assert.equal(compiledBuildIsFresh(root), false, 'a source added after the build');
});
