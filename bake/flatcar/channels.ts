/**
 * Flatcar's release channels and the channel a version's minor number names (docs/flatcar-facts.md §4).
 * No imports, so the vendor catalogue can use these facts as data.
 */

/** In minor-number order: x.0.y is alpha (and main's nightlies), x.1.y beta, x.2.y stable, x.3.y LTS. */
export const CHANNELS = ['alpha', 'beta', 'stable', 'lts'] as const;
export type Channel = (typeof CHANNELS)[number];

export function isChannel(value: string): value is Channel {
  return (CHANNELS as readonly string[]).includes(value);
}

/**
 * The channel the minor number of `version` (MMMM.m.p, maybe with a suffix) names; undefined when it
 * names none. Old releases break the rule, so releases.json's channel comes first where it is known.
 */
export function channelOfMinor(version: string): Channel | undefined {
  const minor = /^\d+\.([0-3])\.\d+/.exec(version)?.[1];
  return minor === undefined ? undefined : CHANNELS[Number(minor)];
}
