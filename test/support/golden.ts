/**
 * Golden files: recorded once, reviewed in the diff, compared on every run. `UPDATE_GOLDEN=1` re-records
 * them instead of comparing.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

export const GOLDEN_DIR = resolve(import.meta.dirname, '../fixtures/golden');

export async function assertGolden(name: string, actual: string): Promise<void> {
  const path = resolve(GOLDEN_DIR, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, actual);
    return;
  }
  const expected = await readFile(path, 'utf8').catch(() => undefined);
  assert.ok(expected !== undefined, `${name} is missing: record it with UPDATE_GOLDEN=1 and review the diff`);
  assert.equal(actual, expected, `${name} differs (UPDATE_GOLDEN=1 re-records it; review the diff)`);
}
