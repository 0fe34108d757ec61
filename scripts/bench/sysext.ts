/**
 * Benchmark: building one recipe (kubernetes, x86-64) from cached artefacts against mksquashfs alone on
 * the very tree the build produced. Everything bake adds (extract, verify the cache, lay out, normalise,
 * lint, checksum) should cost at most 20% on top of the filesystem build itself.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { createSysext } from '../../bake/sysext/create.ts';
import { startUpstream } from '../../test/support/upstream.ts';
import { median, timed } from '../measure.ts';

const RUNS = 3;
/** Each stand-in binary padded to ~12 MiB: 7 binaries ≈ 84 MiB, the size class of the real extension. */
const PADDING = 12 << 20;
const TARGET_RATIO = 1.2;

export async function run(): Promise<
  Array<{ name: string; value: number; unit: string; target?: string; pass?: boolean }>
> {
  const upstream = await startUpstream(['x86-64'], { padding: PADDING, only: ['kubernetes', 'cni'] });
  const work = await mkdtemp(join(tmpdir(), 'bench-sysext-'));
  try {
    const request = {
      name: 'kubernetes',
      version: 'v1.31.4',
      arch: 'x86-64' as const,
      options: { 'cni-version': 'v1.6.1' },
    };
    const warm = await createSysext(upstream.context(), { ...request, outputDir: join(work, 'warm-up') });
    const builds: number[] = [];
    for (let i = 0; i < RUNS; i++)
      builds.push(
        await timed(() => createSysext(upstream.context(), { ...request, outputDir: join(work, `build-${i}`) })),
      );
    const tree = join(work, 'tree');
    await execa('unsquashfs', ['-q', '-d', tree, warm.image]);
    const squashes: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const output = join(work, `plain-${i}.raw`);
      squashes.push(
        await timed(() =>
          execa('mksquashfs', [tree, output, '-all-root', '-noappend', '-quiet'], { env: { SOURCE_DATE_EPOCH: '0' } }),
        ),
      );
    }
    const build = median(builds);
    const squash = median(squashes);
    const ratio = build / squash;
    return [
      { name: 'sysext create kubernetes from cached artefacts', value: round(build), unit: 's' },
      { name: 'mksquashfs alone on the same tree', value: round(squash), unit: 's' },
      {
        name: 'sysext create / mksquashfs',
        value: round(ratio),
        unit: 'x',
        target: `<= ${TARGET_RATIO}`,
        pass: ratio <= TARGET_RATIO,
      },
    ];
  } finally {
    await upstream.close();
    await rm(work, { recursive: true, force: true });
  }
}

const round = (value: number) => Math.round(value * 1000) / 1000;

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  for (const row of await run())
    process.stdout.write(
      `${row.name}: ${row.value} ${row.unit}${row.target ? ` (target ${row.target}: ${row.pass ? 'pass' : 'FAIL'})` : ''}\n`,
    );
}
