/**
 * Benchmark of the native vendor route for azure (fixed VHD) and qemu_uefi (compressed qcow2 plus
 * launcher and firmware) against `qemu-img convert` alone with the same options on the same generic
 * image. The route adds layout growth, the OEM partition and packaging; target ≤ 1.2× the conversion.
 */
import { execa } from 'execa';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertArgs } from '../../bake/vendor/convert.ts';
import { produceVendorImage } from '../../bake/vendor/index.ts';
import { vendorFormat } from '../../vendors/formats.ts';
import { vendorFixture } from '../../test/integration/vendor-fixture.ts';
import { makeFlatcarDisk } from '../fixtures/disk-image.ts';
import type { BenchOptions, BenchRow } from '../bench.ts';

const VERSION = '4790.0.0';
const TARGET = 1.2;

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export async function run(options: BenchOptions = { sizeMiB: 2048, randomMiB: 300 }): Promise<BenchRow[]> {
  const cleanups: Array<() => unknown> = [];
  const work = await mkdtemp(join(tmpdir(), 'bench-vendor-'));
  try {
    const fx = await vendorFixture({ after: (fn) => cleanups.push(fn) }, [{ version: VERSION, channel: 'alpha', sdkVersion: VERSION, oems: ['azure', 'qemu'], firmware: true }]);
    const source = join(work, 'generic.bin');
    await makeFlatcarDisk(source, { version: VERSION, totalSizeMiB: options.sizeMiB, randomDataMiB: options.randomMiB });
    const rows: BenchRow[] = [];
    for (const vendor of ['azure', 'qemu_uefi']) {
      const format = vendorFormat(vendor)!;
      const dir = join(work, vendor);
      await mkdir(join(dir, 'out'), { recursive: true });
      const baselineInput = join(dir, 'baseline.bin');
      const image = join(dir, 'flatcar_production_image.bin');
      await execa('cp', ['--sparse=always', source, baselineInput]);
      await execa('cp', ['--sparse=always', source, image]);
      const baseline = await timed(() => execa('qemu-img', convertArgs(format.disk, baselineInput, join(dir, 'baseline.out'))!));
      const native = await timed(() => produceVendorImage(fx.context(), {
        vendor, route: 'native', release: fx.releases.get(VERSION)!, image, workDir: dir, outputDir: join(dir, 'out'), compression: ['none'],
      }));
      const ratio = native / baseline;
      rows.push(
        { name: `${vendor}: qemu-img convert alone (${options.sizeMiB} MiB disk)`, value: baseline, unit: 's' },
        { name: `${vendor}: native vendor route`, value: native, unit: 's' },
        { name: `${vendor}: native route / qemu-img convert`, value: ratio, unit: '×', target: `≤ ${TARGET}×`, pass: ratio <= TARGET },
      );
      await rm(dir, { recursive: true, force: true });
    }
    return rows;
  } finally {
    for (const cleanup of cleanups) await cleanup();
    await rm(work, { recursive: true, force: true });
  }
}
