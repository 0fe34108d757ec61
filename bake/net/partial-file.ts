/**
 * A download in progress: `<dest>.partial` beside its destination, appended to chunk by chunk (the body
 * is never held in memory), hashed as it grows, and renamed onto the destination only once complete.
 * Complete files therefore only ever exist under their final name; a `.partial` means "resume me".
 * Beside it, `<dest>.partial.validator` holds the ETag or Last-Modified of the version its bytes came
 * from, so a resume asks for the rest of that version only (If-Range) and never splices two versions.
 *
 * The cache directory may hold anything (a symlink planted at a `.partial` by someone else, a hard link
 * to a file that is not ours): an existing partial is only opened without following symlinks and kept
 * only when it is a plain file with one link; otherwise it is unlinked and created afresh, exclusively.
 */

import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { HashAlgorithm } from '../core/checksums.ts';
import { spaceError } from '../core/errors.ts';

const DISK_FULL_HINT =
  'free some disk space there or point --cache-dir at a bigger disk; the download resumes where it stopped';

function diskFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

const { O_RDWR, O_RDONLY, O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = constants;

/** A validator fit to send back in If-Range: printable ASCII, of a sane length. */
const VALIDATOR = /^[\x21-\x7e][\x20-\x7e]{0,1023}$/;

const validatorPath = (path: string) => `${path}.validator`;

/** The existing partial file, opened without following a symlink, if it is a plain file only we link to. */
async function openExisting(path: string): Promise<FileHandle | undefined> {
  const handle = await open(path, O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK).catch(() => undefined);
  if (!handle) return undefined;
  const info = await handle.stat();
  if (info.isFile() && info.nlink === 1) return handle;
  await handle.close();
  return undefined;
}

/**
 * The stored validator, read without following a symlink (nor waiting on a planted FIFO); undefined
 * when absent or not a plausible one.
 */
async function readValidator(path: string): Promise<string | undefined> {
  const handle = await open(validatorPath(path), O_RDONLY | O_NOFOLLOW | O_NONBLOCK).catch(() => undefined);
  if (!handle) return undefined;
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    const buffer = Buffer.alloc(1025);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, bytesRead).toString('latin1');
    return VALIDATOR.test(text) ? text : undefined;
  } finally {
    await handle.close();
  }
}

/** Unlinks whatever is at `path` (a symlink itself, not its target) and creates a new, empty file there. */
async function createFresh(path: string): Promise<FileHandle> {
  await Promise.all([rm(path, { force: true }), rm(validatorPath(path), { force: true })]);
  return open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
}

export class PartialFile {
  private hash: Hash | undefined;
  private closed = false;
  /** Whether the validator file says what `validator` says; false from remember() until the next append. */
  private validatorStored = true;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    /** Bytes in the file so far; where a resumed request starts. */
    public received: number,
    private readonly algorithm: HashAlgorithm | undefined,
    /** The version (ETag or Last-Modified) the bytes so far belong to; without one they cannot be resumed. */
    public validator: string | undefined,
  ) {
    this.hash = algorithm ? createHash(algorithm) : undefined;
  }

  /**
   * Opens the partial file at `path`. With `resume`, an existing one is kept (and hashed first when
   * hashing) if its validator says which version it holds; otherwise, and always without `resume`,
   * the file starts empty.
   */
  static async open(path: string, algorithm: HashAlgorithm | undefined, resume: boolean): Promise<PartialFile> {
    const existing = resume ? await openExisting(path) : undefined;
    const validator = existing ? await readValidator(path) : undefined;
    if (existing && validator !== undefined) {
      const file = new PartialFile(path, existing, (await existing.stat()).size, algorithm, validator);
      if (algorithm) await file.hashExisting();
      return file;
    }
    await existing?.close();
    return new PartialFile(path, await createFresh(path), 0, algorithm, undefined);
  }

  /** Whether a later run can resume this file: it holds bytes of a known version. */
  get resumable(): boolean {
    return this.received > 0 && this.validator !== undefined;
  }

  private async hashExisting(): Promise<void> {
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (let position = 0; position < this.received; ) {
      const { bytesRead } = await this.handle.read(
        buffer,
        0,
        Math.min(buffer.length, this.received - position),
        position,
      );
      if (bytesRead === 0) break;
      this.hash!.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
  }

  /**
   * Records which version of the file the bytes to come belong to. Stored with the first of them, not
   * now: the caller reads the body at once, as a socket error would discard what undici has buffered.
   */
  remember(validator: string | undefined): void {
    this.validator = validator !== undefined && VALIDATOR.test(validator) ? validator : undefined;
    this.validatorStored = false;
  }

  /** Replaces the stored validator: the old one is unlinked, the new one created exclusively, never written through a link. */
  private async storeValidator(): Promise<void> {
    await rm(validatorPath(this.path), { force: true });
    if (this.validator !== undefined)
      await writeFile(validatorPath(this.path), this.validator, { flag: O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW });
    this.validatorStored = true;
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
      if (!this.validatorStored) await this.storeValidator();
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
    await rm(validatorPath(this.path), { force: true });
    const directory = await open(dirname(dest), 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  /** Deletes the partial file and its validator: its content is known bad, or not worth resuming. */
  async discard(): Promise<void> {
    await this.close();
    await Promise.all([rm(this.path, { force: true }), rm(validatorPath(this.path), { force: true })]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}
