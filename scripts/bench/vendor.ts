/**
 * Benchmark of the native vendor route for azure (fixed VHD) and qemu_uefi (compressed qcow2 plus
 * launcher and firmware) against `qemu-img convert` alone with the same options on the same generic
 * image. The route adds layout growth, the OEM partition and packaging; target ≤ 1.2× the conversion.
 *
 * Steady state, as a second vendor bake of a release sees it: one untimed run fills the cache with the
 * release's OEM sysext, firmware and templates; each input copy is written back to disk before timing
 * (attaching a loop device makes the kernel flush the backing file, and the route should not be charged
 * for flushing the benchmark's own fixture copy); medians of five runs (azure takes a tenth of a second,
 * where one scheduling hiccup is a third of the budget).
 */

import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { convertArgs } from '../../bake/vendor/convert.ts';
import { makeFlatcarDisk } from '../../test/support/fixtures/disk-image.ts';
import { produceAsPlanned, vendorFixture } from '../../test/support/vendor-fixture.ts';
import { vendorFormat } from '../../vendors/formats.ts';
import type { BenchOptions, BenchRow } from '../bench.ts';
import { median, timed } from '../measure.ts';

const VERSION = '4790.0.0';
const TARGET = 1.2;
const RUNS = 5;

/** A fresh copy of the generic image, on disk (not just in the page cache) before the clock starts. */
async function freshCopy(source: string, dest: string): Promise<string> {
  await rm(dest, { force: true });
  await execa('cp', ['--sparse=always', source, dest]);
  await execa('sync', ['--data', dest]);
  return dest;
}

export async function run(options: BenchOptions = { sizeMiB: 2048, randomMiB: 300 }): Promise<BenchRow[]> {
  const cleanups: Array<() => unknown> = [];
  const work = await mkdtemp(join(tmpdir(), 'bench-vendor-'));
  try {
    const fx = await vendorFixture({ after: (fn) => cleanups.push(fn) }, [
      { version: VERSION, channel: 'alpha', sdkVersion: VERSION, oems: ['azure', 'qemu'], firmware: true },
    ]);
    const source = join(work, 'generic.bin');
    await makeFlatcarDisk(source, {
      version: VERSION,
      totalSizeMiB: options.sizeMiB,
      randomDataMiB: options.randomMiB,
    });
    const rows: BenchRow[] = [];
    for (const vendor of ['azure', 'qemu_uefi'] as const) {
      const format = vendorFormat(vendor);
      const dir = join(work, vendor);
      const context = fx.context();
      const routeOnce = async (run: string) => {
        const image = await freshCopy(source, join(dir, `${run}.bin`));
        const outputDir = join(dir, `out-${run}`);
        await mkdir(outputDir, { recursive: true });
        const seconds = await timed(() =>
          produceAsPlanned(context, {
            vendor,
            route: 'native',
            release: fx.releases.get(VERSION)!,
            image,
            workDir: join(dir, `work-${run}`),
            outputDir,
            compression: ['none'],
            scripts: fx.scriptsTrust('native', VERSION),
          }),
        );
        await rm(outputDir, { recursive: true, force: true });
        return seconds;
      };
      const convertOnce = async (run: string) => {
        const input = await freshCopy(source, join(dir, `baseline-${run}.bin`));
        const seconds = await timed(() =>
          execa('qemu-img', convertArgs(format.disk, input, join(dir, 'baseline.out'))!),
        );
        await rm(input, { force: true });
        return seconds;
      };
      await mkdir(dir, { recursive: true });
      await routeOnce('warm-up');
      const [baselines, natives]: [number[], number[]] = [[], []];
      for (let run = 0; run < RUNS; run++) {
        baselines.push(await convertOnce(String(run)));
        natives.push(await routeOnce(String(run)));
      }
      const [baseline, native] = [median(baselines), median(natives)];
      const ratio = native / baseline;
      rows.push(
        { name: `${vendor}: qemu-img convert alone (${options.sizeMiB} MiB disk)`, value: baseline, unit: 's' },
        { name: `${vendor}: native vendor route`, value: native, unit: 's' },
        {
          name: `${vendor}: native route / qemu-img convert`,
          value: ratio,
          unit: '×',
          target: `≤ ${TARGET}×`,
          pass: ratio <= TARGET,
        },
      );
      await rm(dir, { recursive: true, force: true });
    }
    return rows;
  } finally {
    for (const cleanup of cleanups) await cleanup();
    await rm(work, { recursive: true, force: true });
  }
}
