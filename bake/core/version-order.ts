/** Version ordering shared by recipes, repositories and provisioning; no imports, so loading it is free. */

/** `sort -V` order: digit runs compare as numbers, everything else as text; negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const split = (value: string) => value.replace(/^v/, '').match(/\d+|\D+/g) ?? [];
  const left = split(a);
  const right = split(b);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const x = left[i];
    const y = right[i];
    if (x === undefined || y === undefined) return x === undefined ? -1 : 1;
    const bothNumbers = /^\d/.test(x) && /^\d/.test(y);
    const order = bothNumbers ? Number(x) - Number(y) : x < y ? -1 : x > y ? 1 : 0;
    if (order !== 0) return Math.sign(order);
  }
  return 0;
}
