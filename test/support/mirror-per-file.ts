/**
 * One 127.0.0.1 mirror for a whole test file: started before its first test over a fresh temporary root,
 * reset (faults and request log) before each test, closed and removed after the last.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach } from 'node:test';
import { type TempDir, tempDir } from '../../bake/core/cleanup.ts';
import { type Mirror, startMirror } from './mirror.ts';

export interface MirrorForFile {
  /** Valid inside tests (after the file's `before` hook ran). */
  readonly mirror: Mirror;
  /** The temporary directory; the mirror serves its `root/`. */
  readonly work: TempDir;
}

/** `populate` fills the served root (and may write beside it, in `work`) before the mirror starts. */
export function mirrorForFile(
  prefix: string,
  populate: (root: string, work: string) => Promise<void> = async () => {},
): MirrorForFile {
  const state: { mirror?: Mirror; work?: TempDir } = {};
  before(async () => {
    state.work = await tempDir(prefix);
    const root = join(state.work.path, 'root');
    await mkdir(root, { recursive: true });
    await populate(root, state.work.path);
    state.mirror = await startMirror({ root });
  });
  after(async () => {
    await state.mirror?.close();
    await state.work?.[Symbol.asyncDispose]();
  });
  beforeEach(() => {
    state.mirror?.clearFaults();
    if (state.mirror) state.mirror.requests.length = 0;
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('mirrorForFile: used outside a test');
    return value;
  };
  return {
    get mirror() {
      return ready(state.mirror);
    },
    get work() {
      return ready(state.work);
    },
  };
}
