/**
 * Reads a file while a download is still appending to it, so decompression and the signature check can
 * run alongside the download instead of after it. The writer calls notify() when it appended and
 * finish() when it is done (the file may have been renamed by then: the open descriptor follows it), and
 * fail() when it started over. A file seen shrinking means the same; either way the followers fail, and
 * the caller then works on the finished file instead.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { Readable } from 'node:stream';

const CHUNK = 256 << 10;
/** How long to wait for a notify() before looking at the file again anyway. */
const POLL_MS = 100;

export class WriterRestartedError extends Error {}

/** One reader of the growing file, from its first byte. */
export interface FileFollower {
  readable: Readable;
  /** Bytes handed on so far: after a clean end, the size of the finished file. */
  bytesRead(): number;
}

export class GrowingFileReader {
  private done = false;
  private failure?: Error;
  private readonly waiters = new Set<() => void>();

  /** `path` is where the writer appends; `finalPath` where it renames the file when complete. */
  constructor(
    private readonly path: string,
    private readonly finalPath: string,
  ) {}

  /** A new follower; several can read the same download at their own pace (the decoder and gpg). */
  follow(): FileFollower {
    const counter = { bytes: 0 };
    return { readable: Readable.from(this.chunks(counter)), bytesRead: () => counter.bytes };
  }

  notify(): void {
    for (const wake of this.waiters) wake();
  }

  finish(): void {
    this.done = true;
    this.notify();
  }

  /** Ends every follower with an error (the download failed or the user interrupted). */
  fail(error: Error): void {
    this.failure = error;
    this.finish();
  }

  private async waitForWriter(): Promise<void> {
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, POLL_MS);
      this.waiters.add(wake);
    });
  }

  /** The file under whichever name it has now: the writer renames it once complete. */
  private async openFile(): Promise<FileHandle | undefined> {
    for (const candidate of [this.path, this.finalPath]) {
      const handle = await open(candidate, 'r').catch(() => undefined);
      if (handle) return handle;
    }
    return undefined;
  }

  private async *chunks(counter: { bytes: number }): AsyncGenerator<Buffer> {
    let handle: FileHandle | undefined;
    try {
      for (;;) {
        if (this.failure) throw this.failure;
        // Taken before looking: a writer that finishes while we look gets one more look, not an early end.
        const finished = this.done;
        handle ??= await this.openFile();
        // Unzeroed and handed on as is: zeroing or copying every MiB cost more CPU than reading it.
        const buffer = Buffer.allocUnsafe(CHUNK);
        const { bytesRead } = handle ? await handle.read(buffer, 0, CHUNK, counter.bytes) : { bytesRead: 0 };
        if (bytesRead > 0) {
          counter.bytes += bytesRead;
          yield buffer.subarray(0, bytesRead);
          continue;
        }
        if (handle && (await handle.stat()).size < counter.bytes)
          throw new WriterRestartedError(`${this.path} was rewritten from the start`);
        if (this.failure) throw this.failure;
        if (finished) {
          if (handle) return;
          throw new Error(`${this.finalPath} never appeared`);
        }
        if (!this.done) await this.waitForWriter();
      }
    } finally {
      await handle?.close();
    }
  }
}
