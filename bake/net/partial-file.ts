/**
 * A download in progress: `<dest>.partial` beside its destination, appended to chunk by chunk (the body
 * is never held in memory), hashed as it grows, and renamed onto the destination only once complete.
 * Complete files therefore only ever exist under their final name; a `.partial` means "resume me".
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { HashAlgorithm } from '../core/checksums.ts';
import { spaceError } from '../core/errors.ts';

const DISK_FULL_HINT = 'free some disk space there or point --cache-dir at a bigger disk; the download resumes where it stopped';

function diskFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export class PartialFile {
  private hash: Hash | undefined;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    /** Bytes in the file so far; where a resumed request starts. */
    public received: number,
    private readonly algorithm: HashAlgorithm | undefined,
  ) {
    this.hash = algorithm ? createHash(algorithm) : undefined;
  }

  /** Opens (or creates) the partial file; an existing one is kept, and hashed first when hashing. */
  static async open(path: string, algorithm?: HashAlgorithm): Promise<PartialFile> {
    const existing = (await stat(path).catch(() => undefined))?.size ?? 0;
    const handle = await open(path, 'a');
    const file = new PartialFile(path, handle, existing, algorithm);
    if (algorithm && existing > 0) await file.hashExisting();
    return file;
  }

  private async hashExisting(): Promise<void> {
    for await (const chunk of createReadStream(this.path, { start: 0, end: this.received - 1 })) {
      this.hash!.update(chunk as Buffer);
    }
  }

  /** Throws the bytes away: the server would not resume, so we start from zero. */
  async restart(): Promise<void> {
    await this.handle.truncate(0);
    this.received = 0;
    this.hash = this.algorithm ? createHash(this.algorithm) : undefined;
  }

  /**
   * Writes all of `chunks` (one writev), then counts and hashes what reached the file, also when the
   * disk fills up halfway, so `received` and the hash always match the file.
   */
  async append(chunks: readonly Uint8Array[]): Promise<void> {
    const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    let written = 0;
    try {
      written = (await this.handle.writev(chunks as Uint8Array[])).bytesWritten;
      if (written < total) {
        // A regular file takes a whole writev unless the disk fills up; write the rest the plain way.
        const rest = Buffer.concat(chunks).subarray(written);
        for (let offset = 0; offset < rest.length; ) {
          const { bytesWritten } = await this.handle.write(rest, offset);
          offset += bytesWritten;
          written += bytesWritten;
        }
      }
    } catch (error) {
      throw diskFull(error) ? spaceError(`no space left on the device holding ${this.path}`, DISK_FULL_HINT) : error;
    } finally {
      this.count(chunks, written);
    }
  }

  private count(chunks: readonly Uint8Array[], bytes: number): void {
    let left = bytes;
    for (const chunk of chunks) {
      if (left === 0) break;
      const part = chunk.length <= left ? chunk : chunk.subarray(0, left);
      this.hash?.update(part);
      left -= part.length;
    }
    this.received += bytes;
  }

  /** The hex digest of everything written; only when opened with a hash algorithm. */
  digest(): string {
    if (!this.hash) throw new Error('PartialFile opened without hashing');
    return this.hash.digest('hex');
  }

  /** Flushes to disk and renames onto `dest` atomically (then syncs the directory so the rename sticks). */
  async commit(dest: string): Promise<void> {
    await this.handle.sync();
    await this.close();
    await rename(this.path, dest);
    const directory = await open(dirname(dest), 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  /** Deletes the partial file: its content is known bad. */
  async discard(): Promise<void> {
    await this.close();
    await rm(this.path, { force: true });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}
