/**
 * ROOT's debugfs process for an install (e2fsprogs.ts Debugfs): every read and write of ROOT goes
 * through it, its layout and free space too (`stats -h`, what dumpe2fs -h prints). It starts when
 * something first needs it and is ended by the store's flush, or before ROOT grows: debugfs writes the
 * bitmaps and superblock and syncs the image when it ends, and holds a stale view of a filesystem that
 * something else changed. The next read or write starts another.
 */
import type { Context } from '../context.ts';
import { inputError, toolError } from '../core/errors.ts';
import { Debugfs, type DebugfsSession, type Ext4AtOffset } from './e2fsprogs.ts';
import type { Ext4Geometry } from './ext4-extents.ts';

/** ROOT's layout and the bytes free for new files. */
export type Ext4Layout = Ext4Geometry & { freeBytes: number };

export class Ext4Session implements AsyncDisposable {
  private debugfs: Debugfs | undefined;
  private layout: Promise<Ext4Layout> | undefined;

  constructor(
    private readonly ctx: Context,
    private where: Ext4AtOffset,
    private readonly mode: { write: boolean },
  ) {}

  /** The filesystem, at its partition as it is now (see `grown`). */
  get fs(): Ext4AtOffset {
    return this.where;
  }

  run(commands: readonly string[]): Promise<DebugfsSession> {
    this.debugfs ??= Debugfs.open(this.ctx, this.where, this.mode);
    return this.debugfs.session(commands);
  }

  /** Read once per process: its own writes change only the free space, which is asked before them. */
  geometry(): Promise<Ext4Layout> {
    this.layout ??= this.run(['stats -h']).then(({ outputs, complaints }) => {
      if (complaints.length > 0) throw toolError(`debugfs could not read ${this.where.label}: ${complaints[0]}`);
      return parseSuperblock(this.where, outputs[0]!.toString('utf8'));
    });
    return this.layout;
  }

  /** Ends the process; what it wrote is in the image then. */
  async end(): Promise<void> {
    const debugfs = this.forget();
    await debugfs?.close();
  }

  /** After the partition grew (with the process ended): the filesystem is read afresh there. */
  grown(fs: Ext4AtOffset): void {
    if (this.debugfs) throw new Error(`internal: ${fs.label} grew while debugfs had it open`);
    this.where = fs;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.forget()?.[Symbol.asyncDispose]();
  }

  private forget(): Debugfs | undefined {
    const debugfs = this.debugfs;
    this.debugfs = undefined;
    this.layout = undefined;
    return debugfs;
  }
}

/** The superblock fields bake needs, each checked against the form it must have. */
function parseSuperblock(fs: Ext4AtOffset, text: string): Ext4Layout {
  const field = (name: string, form: RegExp): string => {
    const value = new RegExp(`^${name}:[ \\t]+(.*)$`, 'm').exec(text)?.[1]?.trim();
    if (value === undefined || !form.test(value))
      throw toolError(`debugfs reported no "${name}" for ${fs.label}`, 'is this an ext4 filesystem?');
    return value;
  };
  const number = (name: string) => Number(field(name, /^\d+$/));
  const features = field('Filesystem features', /^[\w ]+$/).split(' ');
  const blockSize = number('Block size');
  const blocksCount = number('Block count');
  // Everything debugfs allocates, and every extent bake fills, lies below the block count: it must end
  // inside the partition, or writes would land in whatever follows it in the image.
  if (blocksCount * blockSize > fs.partition.sizeBytes)
    throw inputError(
      `${fs.label}'s filesystem claims ${blocksCount * blockSize} bytes, more than its ${fs.partition.sizeBytes}-byte partition`,
      'the base image is damaged; clear the cache and retry',
    );
  return {
    blockSize,
    blocksCount,
    allocatable: features.includes('extent') && !features.includes('inline_data'),
    // What statfs's bavail reports: free blocks less the blocks reserved for root.
    freeBytes: Math.max(0, number('Free blocks') - number('Reserved block count')) * blockSize,
  };
}
