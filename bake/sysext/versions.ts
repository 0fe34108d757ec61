/**
 * Upstream versions of a recipe, newest first, and its "latest set": usually the newest version, for the
 * Kubernetes family the newest patch of each supported minor (bakery issue #213), which is what a
 * release run builds.
 */
import type { Context } from '../context.ts';
import { networkError } from '../core/errors.ts';
import { compareVersions } from '../core/version-order.ts';
import { getRecipe } from './catalog.ts';
import type { LatestPolicy, Recipe, VersionSource } from './recipe.ts';
import { fetchSourceVersions } from './version-sources.ts';

/** Applies a source's filters and sorts newest first, without duplicates. */
export function selectVersions(source: VersionSource, raw: readonly string[]): string[] {
  const match = 'match' in source ? source.match : undefined;
  const stripV = 'stripV' in source && source.stripV;
  const picked = raw
    .filter((version) => !match || match.test(version))
    .map((version) => (stripV ? version.replace(/^v/, '') : version));
  return [...new Set(picked)].sort((a, b) => compareVersions(b, a));
}

export async function sourceVersions(ctx: Context, source: VersionSource): Promise<string[]> {
  return selectVersions(source, await fetchSourceVersions(ctx, source));
}

export async function listVersions(ctx: Context, name: string): Promise<string[]> {
  const recipe = getRecipe(name);
  return sourceVersions(ctx, recipe.versions);
}

/** The recipe's latest set, newest first. */
export async function latestVersions(ctx: Context, name: string): Promise<string[]> {
  return recipeLatest(ctx, getRecipe(name));
}

/** The latest set of a recipe object (also one made on the spot, which the catalogue does not hold). */
export async function recipeLatest(ctx: Context, recipe: Recipe): Promise<string[]> {
  const versions = await sourceVersions(ctx, recipe.versions);
  if (versions.length === 0)
    throw networkError(`no versions of ${recipe.name} found upstream`, 'check the version source endpoint');
  return pickLatest(versions, recipe.latest ?? { kind: 'newest' });
}

/** From a newest-first list: the head, or the first (newest) patch of each of the newest minors. */
export function pickLatest(newestFirst: readonly string[], policy: LatestPolicy): string[] {
  if (policy.kind === 'newest') return newestFirst.slice(0, 1);
  const byMinor = new Map<string, string>();
  for (const version of newestFirst) {
    const minor = /^v?(\d+\.\d+)/.exec(version)?.[1];
    if (minor && !byMinor.has(minor)) byMinor.set(minor, version);
  }
  const picked = [...byMinor.values()];
  return policy.minors === undefined ? picked : picked.slice(0, policy.minors);
}
