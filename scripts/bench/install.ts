/**
 * Benchmark: the install stage putting a 90 MiB sysext into ROOT, offline, against a plain `cp` of the
 * same file on the same disk; issue 21 allows the install at most 1.5× the copy. The stage ends with
 * `e2fsck -fn` of ROOT, a check the mounted route ran too and a `cp` has no counterpart for; e2fsck
 * also syncs the image file when it opens it, so the check is where the installed bytes reach the disk.
 * The install is timed up to the check (the moment the runner logs it); the whole stage is shown beside
 * it against `cp` and a sync of the copy. Also shown: the debugfs processes an install runs (a process
 * per file was most of the cost once).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { createContext } from '../../bake/context.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { copyImage } from '../../bake/flatcar/base-image.ts';
import { placeSysext } from '../../bake/image/placement.ts';
import { installIntoImage } from '../../bake/pipeline/install.ts';
import { makeFlatcarDisk } from '../../test/support/fixtures/disk-image.ts';
import type { BenchRow } from '../bench.ts';
import { median, timed } from '../measure.ts';

const RUNS = 5;
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
    const [installs, stages, copies, syncedCopies] = [[], [], [], []] as number[][];
    let debugfsRuns = 0;
    for (let round = 0; round < RUNS; round++) {
      const image = join(work, `image-${round}.bin`);
      // As the bake copies its base image: written back while copied, so the install does not pay for it.
      await copyImage(createContext(), base, image);
      const { log, checkStartedAt } = checkClock();
      const started = performance.now();
      await installIntoImage(createContext({ log, verbose: true }), image, [item], () => undefined);
      stages.push((performance.now() - started) / 1000);
      installs.push((checkStartedAt() - started) / 1000);
      debugfsRuns = log.lines.filter((line) => line.startsWith('+ debugfs ')).length;
      const copy = join(work, `copy-${round}.raw`);
      copies.push(await timed(() => execa('cp', [sysext, copy])));
      await rm(copy);
      syncedCopies.push(await timed(() => execa('cp', [sysext, copy]).then(() => execa('sync', [copy]))));
      await rm(image);
      await rm(copy);
    }
    const [install, stage, copy, syncedCopy] = [installs, stages, copies, syncedCopies].map(median) as number[];
    const ratio = install! / copy!;
    return [
      { name: 'install a 90 MiB sysext into ROOT (offline), up to the check', value: round3(install!), unit: 's' },
      { name: 'the whole stage, with e2fsck -fn (which syncs the image)', value: round3(stage!), unit: 's' },
      { name: 'cp of the same file on the same disk', value: round3(copy!), unit: 's' },
      { name: 'cp, then sync of the copy', value: round3(syncedCopy!), unit: 's' },
      { name: 'debugfs processes per install', value: debugfsRuns, unit: '' },
      {
        name: 'install / cp',
        value: round3(ratio),
        unit: 'x',
        target: `<= ${TARGET_RATIO}`,
        pass: ratio <= TARGET_RATIO,
      },
      { name: 'whole stage / (cp + sync) (no target)', value: round3(stage! / syncedCopy!), unit: 'x' },
    ];
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A logger that notes when the install starts its filesystem check. */
function checkClock() {
  const log = memoryLogger();
  let checkStarted: number | undefined;
  const debug = log.debug;
  log.debug = (line) => {
    if (line.startsWith('e2fsck ')) checkStarted ??= performance.now();
    debug(line);
  };
  return {
    log,
    checkStartedAt: () => {
      if (checkStarted === undefined) throw new Error('the install ran no e2fsck');
      return checkStarted;
    },
  };
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;
