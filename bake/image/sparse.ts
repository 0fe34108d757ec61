/**
 * A writable stream that leaves all-zero blocks as holes, so a decompressed 8 GiB disk image with 1 GiB
 * of data takes 1 GiB on disk. Used only by the pure-JS bz2 fallback; the fast path is `cp --sparse`.
 */

import { type FileHandle, open } from 'node:fs/promises';
import { Writable } from 'node:stream';

const BLOCK = 64 * 1024;

function isZero(buffer: Buffer): boolean {
  // Compare 8 bytes at a time where alignment allows; the tail byte by byte.
  let i = 0;
  for (; i + 8 <= buffer.length; i += 8) if (buffer.readBigUInt64LE(i) !== 0n) return false;
  for (; i < buffer.length; i++) if (buffer[i] !== 0) return false;
  return true;
}

export class SparseFileWriter extends Writable {
  private handle?: FileHandle;
  private position = 0;
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly path: string) {
    super({ highWaterMark: 4 * BLOCK });
  }

  override async _construct(callback: (error?: Error | null) => void): Promise<void> {
    try {
      this.handle = await open(this.path, 'w');
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override async _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): Promise<void> {
    try {
      this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
      const whole = this.pending.length - (this.pending.length % BLOCK);
      await this.writeBlocks(this.pending.subarray(0, whole));
      this.pending = this.pending.subarray(whole);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override async _final(callback: (error?: Error | null) => void): Promise<void> {
    try {
      await this.writeBlocks(this.pending);
      await this.handle!.truncate(this.position); // a trailing hole still needs the file length
      await this.handle!.close();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override async _destroy(error: Error | null, callback: (error?: Error | null) => void): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    callback(error);
  }

  private async writeBlocks(data: Buffer): Promise<void> {
    for (let offset = 0; offset < data.length; offset += BLOCK) {
      const block = data.subarray(offset, offset + BLOCK);
      if (!isZero(block)) await this.handle!.write(block, 0, block.length, this.position);
      this.position += block.length;
    }
  }
}
