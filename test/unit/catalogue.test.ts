/** The catalogue covers the bakery: every extension sysexts/CATALOGUE.txt names has a recipe. */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CATALOG_DIR, recipeNames } from '../../bake/sysext/catalog.ts';

const bakeryNames = readFileSync(join(CATALOG_DIR, 'CATALOGUE.txt'), 'utf8')
  .split('\n')
  .map((line) => line.replace(/#.*/, '').trim())
  .filter(Boolean);

test('CATALOGUE.txt names the 35 bakery extensions, each once', () => {
  assert.equal(bakeryNames.length, 35);
  assert.equal(new Set(bakeryNames).size, bakeryNames.length);
});

test('every bakery extension has a recipe', () => {
  const missing = bakeryNames.filter((name) => !recipeNames().includes(name));
  assert.deepEqual(missing, [], `bakery extensions without a recipe in sysexts/: ${missing.join(', ')}`);
});
