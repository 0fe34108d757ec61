/**
 * flatcar/scripts at the release's tag (`<channel>-<version>`), as a source tarball fetched through the
 * HTTP client into the cache once and unpacked with tar for each SDK run.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import { scriptsTag, scriptsTarballUrl, type VendorRelease } from './plan.ts';

export async function fetchScriptsCheckout(ctx: Context, release: VendorRelease, dest: string): Promise<void> {
  const tag = scriptsTag(release);
  const tarball = join(ctx.cacheDir, 'flatcar-scripts', `${tag}.tar.gz`);
  await mkdir(join(ctx.cacheDir, 'flatcar-scripts'), { recursive: true });
  await ctx.http.download(scriptsTarballUrl(ctx.endpoints, release), tarball);
  await mkdir(dest, { recursive: true });
  // GitHub archives hold one top directory (scripts-<tag>/).
  await ctx.run.run('tar', ['-xzf', tarball, '-C', dest, '--strip-components=1'], { why: `unpack flatcar/scripts ${tag}` });
}
