/**
 * `bake cache list|prune [--older-than AGE]`: what the download cache holds per release (the compressed
 * and the decompressed image), per unpacked upstream archive, bakery file, built sysext and key, and
 * how much of it to let go. Nothing else removes anything from the cache.
 */
import { Command } from 'commander';
import { addCommonOptions, type CommonOptions, contextFromOptions } from '../cli-context.ts';
import { usageError } from '../core/errors.ts';
import { type CacheEntry, listCache, pruneCache } from '../flatcar/cache-entries.ts';
import { formatTable } from './table.ts';

interface PruneFlags extends CommonOptions {
  olderThan?: number;
}

const AGE_UNITS_MS: Readonly<Record<string, number>> = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

export function parseAge(value: string): number {
  const match = /^(\d+)([hdw])$/.exec(value);
  if (!match) throw usageError(`cannot read --older-than '${value}'`, 'give hours, days or weeks, e.g. 12h, 30d or 2w');
  return Number(match[1]) * AGE_UNITS_MS[match[2]!]!;
}

/** Sizes for people: one decimal, the largest unit that keeps the number at or above 1. */
function size(bytes: number): string {
  const units: Array<[number, string]> = [
    [2 ** 30, 'GiB'],
    [2 ** 20, 'MiB'],
    [2 ** 10, 'KiB'],
  ];
  const [unitSize, unit] = units.find(([unitSize]) => bytes >= unitSize) ?? [1, 'B'];
  return unit === 'B' ? `${bytes} B` : `${(bytes / unitSize).toFixed(1)} ${unit}`;
}

function detail(entry: CacheEntry): string {
  return entry.parts
    ? `bz2 ${size(entry.parts.bz2)}, image ${size(entry.parts.image)}, other ${size(entry.parts.other)}`
    : '';
}

function printEntries(entries: readonly CacheEntry[], cacheDir: string): void {
  const rows = entries.map((entry) => [
    entry.kind,
    entry.name,
    size(entry.bytes),
    new Date(entry.lastUsedMs).toISOString().slice(0, 10),
    detail(entry),
  ]);
  const total = entries.reduce((sum, entry) => sum + entry.bytes, 0);
  const table = rows.length ? `${formatTable([['KIND', 'NAME', 'SIZE', 'LAST USED', 'PARTS'], ...rows])}\n` : '';
  process.stdout.write(`${table}${size(total)} in ${cacheDir}\n`);
}

export function command(): Command {
  const program = new Command('cache').description(
    'list and prune the download cache (releases, unpacked archives, bakery files, builds, keys)',
  );
  addCommonOptions(program.command('list').description('what the cache holds, entry by entry, with sizes'), {
    dryRun: false,
    endpoints: [],
  }).action(async (flags: CommonOptions) => {
    const ctx = contextFromOptions(flags);
    const entries = await listCache(ctx.cacheDir);
    if (ctx.json) process.stdout.write(`${JSON.stringify({ ok: true, cacheDir: ctx.cacheDir, entries }, null, 2)}\n`);
    else printEntries(entries, ctx.cacheDir);
  });
  addCommonOptions(
    program.command('prune').description('remove cache entries (releases a running bake holds are kept)'),
    { dryRun: false, endpoints: [] },
  )
    .option('--older-than <age>', 'only entries last used longer ago than this (12h, 30d, 2w)', parseAge)
    .action(async (flags: PruneFlags) => {
      const ctx = contextFromOptions(flags);
      const { removed, inUse } = await pruneCache(ctx, flags.olderThan);
      const freed = removed.reduce((sum, entry) => sum + entry.bytes, 0);
      if (ctx.json) {
        process.stdout.write(`${JSON.stringify({ ok: true, removed, inUse, freedBytes: freed }, null, 2)}\n`);
        return;
      }
      for (const entry of removed) process.stdout.write(`removed ${entry.kind} ${entry.name} (${size(entry.bytes)})\n`);
      for (const entry of inUse) process.stdout.write(`kept ${entry.kind} ${entry.name}: a bake is using it\n`);
      process.stdout.write(`freed ${size(freed)}\n`);
    });
  return program;
}
