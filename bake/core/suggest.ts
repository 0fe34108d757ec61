/**
 * "Did you mean": the closest name of a closed set (commands, vendors, recipes, arches) to what the user
 * typed, so a typo gets a pointer to the right word instead of a list to search.
 */

/** Edit distance with transpositions (optimal string alignment): `azrue` is one edit from `azure`. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** Spellings that differ only in case, `-` and `_` (qemu-uefi, QEMU_UEFI) name the same thing. */
const canonical = (name: string) => name.toLowerCase().replaceAll('-', '_');

/**
 * The candidate `input` most likely meant: one with the same canonical spelling, else the nearest within
 * a third of its length (at least one edit), else undefined.
 */
export function closest(input: string, candidates: Iterable<string>): string | undefined {
  const wanted = canonical(input);
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(wanted, canonical(name));
    if (distance === 0) return name;
    if (!best || distance < best.distance) best = { name, distance };
  }
  return best && best.distance <= Math.max(1, Math.floor(input.length / 3)) ? best.name : undefined;
}

/** The hint for an unknown name: "did you mean X?", else the list to choose from. */
export function suggestion(input: string, candidates: readonly string[], listHint: string): string {
  const near = closest(input, candidates);
  return near ? `did you mean '${near}'?` : listHint;
}
