/**
 * A recipe's build in plan mode, for `bake --dry-run`: the recipe's own `build(api)` runs against a
 * BuildApi that records every upstream file it fetches, and what will check it, instead of downloading.
 * Running the real hook (rather than keeping a declared list beside it) keeps the plan true when a recipe
 * changes. Small reads that decide later URLs (a version pin, a dependency's newest version, `latest`)
 * are made for real, so the planned URLs are the ones the run fetches. Nothing is written anywhere: the
 * paths handed back to the hook are names, never opened.
 */
import { basename, join } from 'node:path';
import type { Context } from '../context.ts';
import { allFinished } from '../core/all-finished.ts';
import { ARCHES, type Arch } from '../core/arch.ts';
import { endpointSpec } from '../core/endpoints.ts';
import { compareVersions } from '../core/version-order.ts';
import { getRecipe } from './catalog.ts';
import type { BuildApi, Verification } from './recipe.ts';
import { endpointUrl, newestVersion, readVersionPin } from './runner.ts';
import { latestVersions } from './versions.ts';

/** An upstream file the build will fetch, and what will vouch for it. */
export interface PlannedFetch {
  url: string;
  checkedBy: string;
}

export interface BuildPlan {
  /** The version the build uses ('latest' resolved). */
  version: string;
  fetches: PlannedFetch[];
}

/** Where plan mode pretends extracted trees and fetched files are; never created. */
const NOWHERE = '/nonexistent/bake-plan';

/** The files fetched for a download's verification, each with what checks it. */
function evidenceFetches(ctx: Context, verification: Verification): PlannedFetch[] {
  if ('checksumUrl' in verification) {
    const { checksumUrl, signature } = verification;
    const signed = signature
      ? [{ url: signature.url, checkedBy: `a signature by the ${endpointSpec(signature.key).flag} key` }]
      : [];
    return [
      {
        url: checksumUrl,
        checkedBy: signature ? `its signature ${signature.url}` : 'nothing: an upstream checksum file',
      },
      ...signed,
    ];
  }
  if ('githubAssetDigest' in verification) {
    const { repo, tag } = verification.githubAssetDigest;
    return [
      {
        url: `${ctx.endpoints.githubApiUrl}/repos/${repo}/releases/tags/${encodeURIComponent(tag)}`,
        checkedBy: 'nothing: the GitHub release API',
      },
    ];
  }
  return [];
}

function checkedBy(verification: Verification, url: string): string {
  if ('checksumUrl' in verification) return `its sha256 in ${verification.checksumUrl}`;
  if ('githubAssetDigest' in verification) return 'the sha256 digest its GitHub release lists';
  if ('sha256' in verification) return `the pinned sha256 ${verification.sha256}`;
  return `nothing: ${verification.unverified} (${basename(new URL(url).pathname)})`;
}

/** Runs the recipe's build in plan mode and returns every upstream file it would fetch. */
export async function planRecipeBuild(
  ctx: Context,
  request: { name: string; version: string; arch: Arch },
): Promise<BuildPlan> {
  const recipe = getRecipe(request.name);
  const version = request.version === 'latest' ? (await latestVersions(ctx, recipe.name))[0]! : request.version;
  const fetches: PlannedFetch[] = [];
  const record = (fetch: PlannedFetch) => {
    if (!fetches.some(({ url }) => url === fetch.url)) fetches.push(fetch);
  };
  let trees = 0;
  const api: BuildApi = {
    name: recipe.name,
    version,
    arch: request.arch,
    names: ARCHES[request.arch],
    options: {},
    url: (endpoint, path) => endpointUrl(ctx, recipe, endpoint, path),
    async fetch(url, verification) {
      for (const evidence of evidenceFetches(ctx, verification)) record(evidence);
      record({ url, checkedBy: checkedBy(verification, url) });
      return join(NOWHERE, 'files', basename(new URL(url).pathname));
    },
    extract: async (_archive, options) => options?.into ?? join(NOWHERE, `tree-${++trees}`),
    async readVersionPin(url, pattern) {
      record({
        url,
        checkedBy: `nothing: a version pin, read now to plan the next download (refused unless it matches ${String(pattern)})`,
      });
      return readVersionPin(ctx, url, pattern);
    },
    exists: async () => false,
    install: async () => {},
    installTree: async () => {},
    symlink: async () => {},
    writeFile: async () => {},
    copyStatic: async () => {},
    remove: async () => {},
    newestVersion: (source) => newestVersion(ctx, source, recipe.name),
    async wrapPackages(request) {
      record({
        url: `${request.kind} packages ${request.packages.join(' ')} (${request.release ?? 'default release'}) and their dependencies`,
        checkedBy:
          "the package index's checksums (Debian's index against its signed Release; Alpine's index is not signed)",
      });
    },
    async buildInContainer(build) {
      record({
        url: `container image ${build.image}`,
        checkedBy: 'the container runtime (pulled when absent); the build script may fetch more',
      });
      return join(NOWHERE, `build-${++trees}`);
    },
    async concurrently(steps) {
      await allFinished(steps.map((step) => step()));
    },
    compareVersions,
    log: () => {},
  };
  await recipe.build(api);
  return { version, fetches };
}
