/**
 * flatcar/scripts at the release's tag (`<channel>-<version>`), as a source tarball fetched through the
 * HTTP client and unpacked with tar for each SDK run. Its scripts run as root in a privileged container,
 * so the tarball is checked against its pinned (or the user's) SHA-256 before tar reads it; only a
 * verified tarball is cached, and a cached one is checked again before reuse.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { downloadVerified } from '../core/cache.ts';
import { sha256File } from '../core/checksums.ts';
import { tempDir } from '../core/cleanup.ts';
import type { Context } from '../context.ts';
import { verifyError } from '../core/errors.ts';
import { SCRIPTS_TARBALL_SHA256 } from '../../vendors/scripts-pins.ts';
import { scriptsTag, scriptsTarballUrl, type VendorRelease } from './plan.ts';
import { expectedDigests, judgeDigest, requireSecureSource, type ScriptsTrust } from './scripts-trust.ts';

export async function fetchScriptsCheckout(ctx: Context, release: VendorRelease, dest: string, trust: ScriptsTrust): Promise<void> {
  const tag = scriptsTag(release);
  const url = scriptsTarballUrl(ctx.endpoints, release);
  const what = `the flatcar/scripts tarball ${tag}`;
  requireSecureSource(url, what, trust);
  const pinned = SCRIPTS_TARBALL_SHA256[tag];
  const [expected] = expectedDigests(trust, pinned ? [pinned] : []);
  await mkdir(dest, { recursive: true });
  if (expected) {
    const tarball = await downloadVerified(ctx, url, join(ctx.cacheDir, 'flatcar-scripts', `${tag}.tar.gz`), expected);
    return await unpack(ctx, tarball, dest, tag);
  }
  if (!trust.insecure) {
    throw verifyError(`bake has no pinned sha256 for ${what}`, 'pass --scripts-sha256 <its sha256> once you have checked it against the signed tag, or --insecure-scripts');
  }
  // Nothing vouches for it: fetched into a private directory, run once, never kept.
  await using scratch = await tempDir('bake-scripts');
  const tarball = join(scratch.path, `${tag}.tar.gz`);
  await ctx.http.download(url, tarball);
  judgeDigest(what, await sha256File(tarball), [], trust, ctx.log);
  await unpack(ctx, tarball, dest, tag);
}

async function unpack(ctx: Context, tarball: string, dest: string, tag: string): Promise<void> {
  // GitHub archives hold one top directory (scripts-<tag>/).
  await ctx.run.run('tar', ['-xzf', tarball, '-C', dest, '--strip-components=1'], { why: `unpack flatcar/scripts ${tag}` });
}
