/**
 * Benchmark: the install stage putting a 90 MiB sysext into ROOT, offline (debugfs at ROOT's offset,
 * then the e2fsck -fn it runs after), against `cp` of the same file on the same disk. Issue 21 allows the
 * offline route at most 1.5× the copy. The copy it is held to is synced (`cp`, then `sync` of the copy):
 * the install's data is on disk when it returns (debugfs syncs the image when it closes it, as the
 * mounted install's umount did), while a plain `cp` returns with its data still in the page cache. The
 * ratio to a plain `cp` is shown too, without a target, and so are the debugfs processes an install runs
 * (a process per file was most of the cost once).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { createContext } from '../../bake/context.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { placeSysext } from '../../bake/image/placement.ts';
import { installIntoImage } from '../../bake/pipeline/install.ts';
import { makeFlatcarDisk } from '../../test/support/fixtures/disk-image.ts';
import type { BenchRow } from '../bench.ts';
import { median, timed } from '../measure.ts';

const RUNS = 3;
const SYSEXT_BYTES = 90 * 1024 * 1024;
/** Room for the sysext without growing ROOT: growth is the bake benchmark's business, not this one's. */
const ROOT_MIB = 256;
const TARGET_RATIO = 1.5;

export async function run(): Promise<BenchRow[]> {
  const work = await mkdtemp(join(tmpdir(), 'bench-install-'));
  try {
    const base = join(work, 'base.bin');
    await makeFlatcarDisk(base, { sizes: { ROOT: ROOT_MIB } });
    // Random bytes: what a compressed sysext looks like to the filesystem (install never looks inside).
    const sysext = join(work, 'big.raw');
    await writeFile(sysext, randomBytes(SYSEXT_BYTES));
    const item = {
      spec: { name: 'big' },
      bytes: SYSEXT_BYTES,
      image: sysext,
      placement: placeSysext('big', 'big.raw', { partition: 'root', dir: '/opt/extensions' }),
    };
    const installs: number[] = [];
    const copies: number[] = [];
    const syncedCopies: number[] = [];
    let debugfsRuns = 0;
    for (let round = 0; round < RUNS; round++) {
      const image = join(work, `image-${round}.bin`);
      await execa('cp', ['--sparse=always', base, image]);
      const log = memoryLogger();
      const ctx = createContext({ log, verbose: true });
      installs.push(await timed(() => installIntoImage(ctx, image, [item], () => undefined)));
      debugfsRuns = log.lines.filter((line) => line.startsWith('+ debugfs ')).length;
      const copy = join(work, `copy-${round}.raw`);
      copies.push(await timed(() => execa('cp', [sysext, copy])));
      await rm(copy);
      const copyAndSync = async () => {
        await execa('cp', [sysext, copy]);
        await execa('sync', [copy]);
      };
      syncedCopies.push(await timed(copyAndSync));
      await rm(image);
      await rm(copy);
    }
    const [install, copy, syncedCopy] = [median(installs), median(copies), median(syncedCopies)];
    const ratio = install / syncedCopy;
    return [
      { name: 'install a 90 MiB sysext into ROOT (offline, with e2fsck)', value: round3(install), unit: 's' },
      { name: 'cp of the same file on the same disk, then sync of the copy', value: round3(syncedCopy), unit: 's' },
      { name: 'cp alone (its data still in the page cache)', value: round3(copy), unit: 's' },
      { name: 'debugfs processes per install', value: debugfsRuns, unit: '' },
      { name: 'install / cp alone (no target: not the same work)', value: round3(install / copy), unit: 'x' },
      {
        name: 'install / cp + sync',
        value: round3(ratio),
        unit: 'x',
        target: `<= ${TARGET_RATIO}`,
        pass: ratio <= TARGET_RATIO,
      },
    ];
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;
