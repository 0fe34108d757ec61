/**
 * Loading the recipe catalogue imports every recipe (up to 0.3 s), so the bake command must reach it only
 * through a dynamic import, taken when the request names a recipe. Checked on the static import graph.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');
/** Static imports and re-exports that stay at run time (`import type` is erased). */
const STATIC_IMPORT = /^(?:import|export)(?!\s+type\s)[^;]*?\sfrom\s+'(\.[^']+)';/gms;

/** The project files `entry` loads at start-up, following static imports only. */
function staticGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const pending = [resolve(ROOT, entry)];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    for (const [, target] of readFileSync(file, 'utf8').matchAll(STATIC_IMPORT))
      if (target!.endsWith('.ts')) pending.push(join(dirname(file), target!));
  }
  return new Set([...seen].map((file) => relative(ROOT, file)));
}

test('the bake command loads the recipe catalogue only when it builds a recipe', () => {
  const loaded = staticGraph('bake/commands/bake.ts');
  assert.ok(loaded.has('bake/pipeline/plan.ts'), 'the walk follows the imports');
  assert.ok(!loaded.has('bake/sysext/catalog.ts'), 'bake/sysext/catalog.ts is imported statically');
});
