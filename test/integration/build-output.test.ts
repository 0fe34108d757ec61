/**
 * The built CLI (dist/, made by `npm run build` before the tests) imports only what exists there: tsc
 * leaves a dynamic `import('./x.ts')` unrewritten inside a function that uses `await using`, and the
 * bundle then fails at run time, only on the path that loads it.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const DIST = resolve(import.meta.dirname, '../../dist');
const TS_SPECIFIER = /\b(?:import|from)\s*\(?\s*['"][^'"]+\.ts['"]/g;

test('no module tsc compiled imports a .ts file', async () => {
  // bundle/ is made from these (and carries npm packages' own JSDoc `import('….d.ts')` types).
  const files = (await readdir(DIST, { recursive: true })).filter(
    (file) => file.endsWith('.js') && !file.startsWith('bundle/'),
  );
  assert.ok(files.length > 100, `dist/ holds the build (${files.length} .js files); run npm run build`);
  const offenders: string[] = [];
  for (const file of files) {
    const found = (await readFile(join(DIST, file), 'utf8')).match(TS_SPECIFIER);
    if (found) offenders.push(`${file}: ${found.join(', ')}`);
  }
  assert.deepEqual(offenders, []);
});
