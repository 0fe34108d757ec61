/**
 * A file on the host, outside everything a bake may touch, for tests that feed bake hostile input: its
 * bytes, inode and times must be the same after the run. Removed when the test ends.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export interface Canary {
  /** The canary file. */
  path: string;
  /** Its directory, which holds nothing else unless a test puts it there. */
  dir: string;
  assertUntouched(): Promise<void>;
}

const identity = async (path: string) => {
  const { ino, size, mtimeMs, ctimeMs } = await stat(path);
  return { ino, size, mtimeMs, ctimeMs, bytes: (await readFile(path)).toString('hex') };
};

export async function withCanary(t: TestContext): Promise<Canary> {
  const dir = await mkdtemp(join(tmpdir(), 'bake-canary-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'canary');
  await writeFile(path, randomBytes(64));
  const before = await identity(path);
  return {
    path,
    dir,
    async assertUntouched() {
      assert.deepEqual(await identity(path), before, 'the canary file on the host was changed');
      assert.deepEqual(await readdir(dir), ['canary'], 'something was created beside the canary');
    },
  };
}

/** The names directly in `dir`, to compare before and after a run. */
export async function entriesOf(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}
