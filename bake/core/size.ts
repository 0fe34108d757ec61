/** Sizes as people and truncate(1) write them: bytes, or a number with K, M, G or T (powers of 1024). */
import { usageError } from './errors.ts';

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

export function parseSize(value: string, flag: string): number {
  const match = /^(\d+)([KMGT]?)(?:i?B)?$/i.exec(value.trim());
  const bytes = match ? Number(match[1]) * UNITS[match[2]!.toUpperCase()]! : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0)
    throw usageError(`${flag} ${value} is not a size`, `use e.g. ${flag} 1G or ${flag} 512M`);
  return bytes;
}
