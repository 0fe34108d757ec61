/**
 * One bake at a time per cached release: two bakes of the same release would otherwise append to the same
 * `.partial` download and decompress into the same file. The lock is a file created exclusively, holding
 * the owner's pid and host; a lock whose owner on this host is gone (killed with SIGKILL) is taken over.
 * (Two bakes taking over the same stale lock in the same instant could both go ahead; that needs a killed
 * bake and two new ones starting within milliseconds of each other.)
 */
import { hostname } from 'node:os';
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
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

/** Waits for the lock on `dir` (Ctrl-C still works while waiting); the returned function releases it. */
export async function lockCacheDir(ctx: Context, dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true, mode: 0o700 }); // a new cache is owner-only from the start (see privateCacheDir)
  const path = join(dir, '.lock');
  let announced = false;
  while (!(await tryLock(path))) {
    const owner = await readFile(path, 'utf8').catch(() => '');
    if (owner && ownerGone(owner)) {
      ctx.log.debug(`taking over ${path}: its owner (pid ${owner.split('\n')[0]}) is gone`);
      await unlink(path).catch(() => undefined);
      continue;
    }
    if (!announced) ctx.log.info(`waiting for another bake of this release (pid ${owner.split('\n')[0] || '?'}) to finish with ${dir}`);
    announced = true;
    if (ctx.signal.aborted) throw interruptedError(ctx.signal, 'waiting for the release cache');
    await sleep(POLL_MS);
  }
  return () => unlink(path).catch(() => undefined);
}
