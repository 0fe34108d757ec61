/**
 * Before a vendor bake spends minutes downloading and decompressing the release: every file its vendor
 * route fetches later (oem-<id>.raw, firmware, the flatcar/scripts tarball or templates) must exist where
 * the run will fetch it, or already be in the release cache. A mirror that lacks one is named now, with
 * the files, instead of after the decompression. Only a definite "not found" counts: an unreachable host
 * is left to the vendor stage, so a bake from a warm cache still works offline.
 */
import { access } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Context } from '../context.ts';
import { endpointHint } from '../core/endpoints.ts';
import { inputError, isBakeError } from '../core/errors.ts';
import type { ResolvedRelease } from '../flatcar/release.ts';
import { releaseCacheDir } from '../flatcar/release-files.ts';
import { filesWithFallback } from './plan.ts';

async function isMissing(ctx: Context, url: string, cached: string): Promise<boolean> {
  if (
    await access(cached).then(
      () => true,
      () => false,
    )
  )
    return false;
  return !(await ctx.http.exists(url).catch((error: unknown) => {
    if (isBakeError(error) && error.kind === 'network') return true;
    throw error;
  }));
}

async function missingDownloads(ctx: Context, release: ResolvedRelease, urls: readonly string[]): Promise<string[]> {
  const cache = releaseCacheDir(ctx.cacheDir, release);
  const missing: string[] = [];
  for (const url of urls) if (await isMissing(ctx, url, join(cache, basename(url)))) missing.push(url);
  return missing;
}

/**
 * When no planned vendor image can be made, the bake stops here with the files that are missing. When
 * only some lack files, each of those is named now and the bake goes on: the others are still made, and
 * the vendor stage reports the ones that failed (see vendor/several.ts).
 */
export async function requireVendorDownloads(
  ctx: Context,
  release: ResolvedRelease,
  vendors: ReadonlyArray<{ vendor: string; downloads: readonly string[] }>,
): Promise<void> {
  const lacking: Array<{ vendor: string; missing: string[] }> = [];
  for (const { vendor, downloads } of vendors) {
    const optional = new Set(filesWithFallback(vendor, release));
    const missing = await missingDownloads(
      ctx,
      release,
      downloads.filter((url) => !optional.has(basename(url))),
    );
    if (missing.length > 0) lacking.push({ vendor, missing });
  }
  if (lacking.length === 0) return;
  const say = ({ vendor, missing }: { vendor: string; missing: string[] }) =>
    `the ${vendor} image needs files that do not exist: ${missing.join(', ')}`;
  const where = `${endpointHint('releaseUrl')}, ${endpointHint('scriptsTarballUrl')}, ${endpointHint('scriptsFileUrl')}`;
  const hint = `mirror them (README: Pointing bake at a mirror) or point ${where} where they are`;
  if (lacking.length === vendors.length) throw inputError(lacking.map(say).join('; '), hint);
  for (const vendor of lacking) ctx.log.warn(`${say(vendor)}: it will fail, the other vendor images will be made`);
}
