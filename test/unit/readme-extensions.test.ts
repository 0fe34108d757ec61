/** The README's extension table is the one scripts/readme-extensions.ts generates from the recipes. */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { README, withCurrentTable } from '../../scripts/readme-extensions.ts';

test('the extension table in README.md is current (else: node --import tsx scripts/readme-extensions.ts)', () => {
  const readme = readFileSync(README, 'utf8');
  assert.equal(readme, withCurrentTable(readme));
});

test('a README without the marked block is an error, not a silent no-op', () => {
  assert.throws(() => withCurrentTable('# bake\n'), /no <!-- extensions:begin/);
});
