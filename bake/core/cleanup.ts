/**
 * Disposables for everything bake acquires (temp dirs, loop devices, mounts, containers, partial files).
 * Acquire with `await using`; release runs in reverse order on success, error and Ctrl-C alike.
 * A failing release is logged and the rest still run, so one stuck mount never leaks a loop device.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from './log.ts';

type Release = () => Promise<void> | void;

export class CleanupStack implements AsyncDisposable {
  private readonly releases: Array<{ what: string; release: Release }> = [];

  constructor(private readonly log?: Logger) {}

  /** Registers a release step; returns a function that runs it early (and only once). */
  defer(what: string, release: Release): () => Promise<void> {
    const entry = { what, release };
    this.releases.push(entry);
    return async () => {
      const index = this.releases.indexOf(entry);
      if (index === -1) return;
      this.releases.splice(index, 1);
      await release();
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const failures: string[] = [];
    while (this.releases.length > 0) {
      const { what, release } = this.releases.pop()!;
      try {
        await release();
      } catch (error) {
        failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    for (const failure of failures) this.log?.warn(`cleanup failed, ${failure}`);
  }
}

export interface TempDir extends AsyncDisposable {
  path: string;
}

/** A private temporary directory, removed with everything in it when disposed. */
export async function tempDir(prefix: string, parent = tmpdir()): Promise<TempDir> {
  const path = await mkdtemp(join(parent, `${prefix}-`));
  return {
    path,
    async [Symbol.asyncDispose]() {
      await rm(path, { recursive: true, force: true });
    },
  };
}
