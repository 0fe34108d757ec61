/** Sizes, rates and durations as people read them in progress lines and summaries. */

const UNITS: ReadonlyArray<[number, string]> = [
  [2 ** 30, 'GiB'],
  [2 ** 20, 'MiB'],
  [2 ** 10, 'KiB'],
];

/** 512 B, 3.4 KiB, 12.5 MiB, 1.21 GiB: a tiny file is not "0.0 MiB". */
export function humanBytes(bytes: number): string {
  const [size, unit] = UNITS.find(([unitSize]) => bytes >= unitSize) ?? [1, 'B'];
  if (size === 1) return `${Math.round(bytes)} B`;
  return `${(bytes / size).toFixed(unit === 'GiB' ? 2 : 1)} ${unit}`;
}

/** 0.4 s, 12 s, 3 min 05 s, 1 h 02 min. */
export function humanDuration(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  const [minutes, rest] = [Math.floor(whole / 60), whole % 60];
  if (minutes < 60) return `${minutes} min ${String(rest).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** "42%" of a known whole; capped, since a hostile or wrong total must not print 3000%. */
export function percent(part: number, whole: number): string {
  return `${Math.min(100, Math.floor((part / Math.max(whole, 1)) * 100))}%`;
}
