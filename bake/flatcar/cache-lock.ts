/**
 * One bake at a time per cached release: two bakes of the same release would otherwise append to the same
 * `.partial` download and decompress into the same file. The lock is a file created exclusively, holding
 * the owner's pid and host; a lock whose owner on this host is gone (killed with SIGKILL) is taken over.
 * (Two bakes taking over the same stale lock in the same instant could both go ahead; that needs a killed
 * bake and two new ones starting within milliseconds of each other.)
 */

import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.ts';
import { interruptedError } from '../core/errors.ts';

const POLL_MS = 250;

function ownerGone(owner: string): boolean {
  const [pid, host] = owner.split('\n');
  if (host !== hostname() || !/^\d+$/.test(pid ?? '')) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function tryLock(path: string): Promise<boolean> {
  try {
    const file = await open(path, 'wx');
    await file.writeFile(`${process.pid}\n${hostname()}\n`);
    await file.close();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Takes the lock on an existing `dir` if no live bake holds it (a dead owner's lock is taken over); the
 * returned function releases it. For `bake cache prune`, which skips a release in use instead of waiting.
 */
export async function tryLockCacheDir(ctx: Context, dir: string): Promise<(() => Promise<void>) | undefined> {
  const path = join(dir, '.lock');
  if (await tryLock(path)) return () => unlink(path).catch(() => undefined);
  const owner = await readFile(path, 'utf8').catch(() => '');
  if (!owner || !ownerGone(owner)) return undefined;
  ctx.log.debug(`taking over ${path}: its owner (pid ${owner.split('\n')[0]}) is gone`);
  await unlink(path).catch(() => undefined);
  return (await tryLock(path)) ? () => unlink(path).catch(() => undefined) : undefined;
}

/** Waits for the lock on `dir` (Ctrl-C still works while waiting); the returned function releases it. */
export async function lockCacheDir(ctx: Context, dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true, mode: 0o700 }); // a new cache is owner-only from the start (see privateCacheDir)
  let announced = false;
  for (;;) {
    const release = await tryLockCacheDir(ctx, dir);
    if (release) return release;
    const owner = await readFile(join(dir, '.lock'), 'utf8').catch(() => '');
    if (!announced)
      ctx.log.info(
        `waiting for another bake of this release (pid ${owner.split('\n')[0] || '?'}) to finish with ${dir}`,
      );
    announced = true;
    if (ctx.signal.aborted) throw interruptedError(ctx.signal, 'waiting for the release cache');
    await sleep(POLL_MS);
  }
}
