/** Timing helpers the benchmark modules in scripts/bench/ share (kept outside that folder: every module there is a benchmark). */

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
