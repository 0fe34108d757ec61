/** Timing helpers the benchmark modules in scripts/bench/ share (kept outside that folder: every module there is a benchmark). */
import { readFile } from 'node:fs/promises';

/** Wall-clock seconds that `run` takes. */
export async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** The middle value (the upper middle for an even count): what single runs on a noisy machine are judged by. */
export function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

/**
 * CPU seconds the hypervisor has so far taken from this VM's CPUs while it had work for them (the steal
 * column of /proc/stat, in USER_HZ = 1/100 s): the part of a slow run that the host, not the run, caused.
 * Zero where the kernel reports none (bare metal).
 */
export async function stolenSeconds(): Promise<number> {
  const cpu = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!.trim().split(/\s+/);
  return Number(cpu[8] ?? 0) / 100;
}

/** `timed`, and how much CPU the host stole meanwhile. */
export async function timedWithSteal(run: () => Promise<unknown>): Promise<{ seconds: number; stolen: number }> {
  const before = await stolenSeconds();
  const seconds = await timed(run);
  return { seconds, stolen: (await stolenSeconds()) - before };
}
