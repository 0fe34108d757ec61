/**
 * Upstream evidence beyond a plain checksum file: a checksum file with a detached OpenPGP signature
 * (HashiCorp signs every release's SHA256SUMS), and the digest GitHub's release API lists per asset
 * (kata-containers publishes no checksum file). Both fail closed, except a release from before GitHub
 * listed digests, which is logged as unverified.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import { tempDir } from '../core/cleanup.ts';
import type { KeyEndpoint } from '../core/endpoints.ts';
import { inputError, verifyError } from '../core/errors.ts';
import { verifyWithEndpointKey } from '../flatcar/verify.ts';
import { githubHttp } from './version-sources.ts';

/** The text of `url`, once its detached signature at `signatureUrl` checks out against the key endpoint. */
export async function signedText(
  ctx: Context,
  url: string,
  signature: { url: string; key: KeyEndpoint },
): Promise<string> {
  await using scratch = await tempDir('bake-signed');
  const file = join(scratch.path, 'sums');
  const sig = join(scratch.path, 'sums.sig');
  await Promise.all([ctx.http.download(url, file), ctx.http.download(signature.url, sig)]);
  await verifyWithEndpointKey(ctx, signature.key, file, sig);
  return readFile(file, 'utf8');
}

interface GithubAsset {
  name?: unknown;
  digest?: unknown;
}

/**
 * The asset's SHA-256 from a GitHub release API entry (`digest: "sha256:<hex>"`); `{}` when GitHub lists
 * the asset without a digest, as for assets uploaded before it computed them. Fails closed otherwise.
 */
export function parseAssetDigest(body: unknown, fileName: string): { sha256?: string } {
  const assets = (body as { assets?: unknown } | null)?.assets;
  if (!Array.isArray(assets))
    throw inputError('unexpected GitHub release response: no asset list', 'check --github-api-url');
  const asset = (assets as GithubAsset[]).find((entry) => entry.name === fileName);
  if (!asset)
    throw verifyError(
      `the GitHub release lists no asset ${fileName}`,
      'refusing a download its release does not vouch for',
    );
  if (asset.digest === null || asset.digest === undefined) return {};
  const hash = typeof asset.digest === 'string' ? /^sha256:([0-9a-f]{64})$/i.exec(asset.digest)?.[1] : undefined;
  if (!hash)
    throw verifyError(
      `GitHub lists an unusable digest for ${fileName}: ${JSON.stringify(asset.digest).slice(0, 80)}`,
      'expected sha256:<64 hex digits>',
    );
  return { sha256: hash.toLowerCase() };
}

/** The asset's SHA-256 as its release lists it; undefined (with a warning) for an asset GitHub has no digest of. */
export async function githubAssetDigest(
  ctx: Context,
  fileName: string,
  release: { repo: string; tag: string },
): Promise<string | undefined> {
  const url = `${ctx.endpoints.githubApiUrl}/repos/${release.repo}/releases/tags/${encodeURIComponent(release.tag)}`;
  const { sha256 } = parseAssetDigest(await releaseEntry(ctx, url), fileName);
  if (!sha256) ctx.log.warn(`${fileName}: GitHub lists no digest for this (older) release asset; using it unverified`);
  return sha256;
}

/**
 * One API request per release and context, however many of its assets are checked (ig and
 * cloud-hypervisor fetch two per arch): unauthenticated, the GitHub API allows 60 requests an hour.
 */
const releaseEntries = new WeakMap<Context, Map<string, Promise<unknown>>>();

function releaseEntry(ctx: Context, url: string): Promise<unknown> {
  let entries = releaseEntries.get(ctx);
  if (!entries) {
    entries = new Map();
    releaseEntries.set(ctx, entries);
  }
  let entry = entries.get(url);
  if (!entry) {
    entry = githubHttp(ctx).getJson<unknown>(url);
    entries.set(url, entry);
    // A failed request is not remembered: a later build in the same run asks again.
    entry.catch(() => entries.delete(url));
  }
  return entry;
}
