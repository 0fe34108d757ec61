/**
 * A file on the host that a confinement test dares bake to touch: bake must leave it, and the directory
 * that holds it, exactly as they were (no replacement by a symlink, no new file beside it).
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstat, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CleanupHost } from './fixtures.ts';

export interface Canary {
  /** A directory outside every workspace, holding only `victim`. */
  dir: string;
  victim: string;
  assertUntouched(): Promise<void>;
}

export async function hostCanary(t: CleanupHost): Promise<Canary> {
  const dir = await mkdtemp(join(tmpdir(), 'bake-canary-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const victim = join(dir, 'victim');
  const content = randomBytes(16).toString('hex');
  await writeFile(victim, content);
  return {
    dir,
    victim,
    async assertUntouched() {
      assert.deepEqual(await readdir(dir), ['victim'], `nothing may appear beside the canary in ${dir}`);
      assert.ok((await lstat(victim)).isFile(), 'the canary is still a plain file');
      assert.equal(await readFile(victim, 'utf8'), content, 'the canary still holds its content');
    },
  };
}

/** An absolute in-image path that, joined naively onto any host mount point, lands on `hostPath`. */
export const escapeTo = (hostPath: string): string => `/../../../../../../../../../..${hostPath}`;
