/**
 * `npm run bench [-- --size 2G|8G] [--random 300M] [--only bake,sysext,vendor]`: runs every benchmark
 * module in scripts/bench/ and prints one table with the targets. Exits 1 when a target is missed, so
 * the numbers can gate a release. Speed and memory are checked here, never by timed tests.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

export interface BenchOptions {
  sizeMiB: number;
  randomMiB: number;
}

export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  target?: string;
  pass?: boolean;
}

type BenchModule = { run(options: BenchOptions): Promise<BenchRow[]> };

function mebibytes(value: string): number {
  const match = /^(\d+(?:\.\d+)?)([MG]i?B?)?$/i.exec(value);
  if (!match) throw new Error(`not a size: ${value} (e.g. 2G, 300M)`);
  return Math.round(Number(match[1]) * (match[2]?.toUpperCase().startsWith('G') ? 1024 : 1));
}

function format(row: BenchRow): string {
  const verdict = row.pass === undefined ? '' : row.pass ? 'PASS' : 'FAIL';
  return [
    row.name.padEnd(58),
    `${row.value.toFixed(2)} ${row.unit}`.padStart(14),
    (row.target ?? '').padEnd(40),
    verdict,
  ]
    .join('  ')
    .trimEnd();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '2G' },
      random: { type: 'string', default: '300M' },
      only: { type: 'string' },
    },
  });
  const options: BenchOptions = { sizeMiB: mebibytes(values.size!), randomMiB: mebibytes(values.random!) };
  const only = values.only?.split(',');
  const dir = join(import.meta.dirname, 'bench');
  const names = (await readdir(dir))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .filter((n) => !only || only.includes(n))
    .sort();
  let failed = false;
  for (const name of names) {
    process.stdout.write(`\n## ${name}\n`);
    const module = (await import(join(dir, `${name}.ts`))) as BenchModule;
    for (const row of await module.run(options)) {
      process.stdout.write(`${format(row)}\n`);
      if (row.pass === false) failed = true;
    }
  }
  process.exitCode = failed ? 1 : 0;
}

await main();
