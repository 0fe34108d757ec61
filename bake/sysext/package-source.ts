/**
 * Alpine and Debian repositories as sources of package files: the index of each repository, and each
 * package downloaded (into the cache), checked against its index entry and unpacked into a directory.
 * The two formats differ only in a row of PACKAGE_FORMATS. A Debian index must match the suite's signed
 * Release (deb-release.ts); an APKINDEX is trusted as the mirror serves it (its RSA signature is not
 * checked yet). Every package is checked against its index.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Context } from '../context.ts';
import { hostDebianMirror } from '../core/apt-mirror.ts';
import { ARCHES, type Arch } from '../core/arch.ts';
import { downloadVerified } from '../core/cache.ts';
import { inputError, usageError } from '../core/errors.ts';
import { apkIndexText, verifiedApkData } from './apk-package.ts';
import { debDataMember } from './deb-package.ts';
import { verifiedSuite } from './deb-release.ts';
import { cachePathFor } from './download-path.ts';
import { type IndexedPackage, type PackageIndex, parseApkIndex, parseDebPackages } from './package-index.ts';
import type { PackageRepository } from './recipe.ts';
import { unpackArchive } from './unpack.ts';

/** An index entry and the URL of its package file. */
export interface SourcePackage extends IndexedPackage {
  url: string;
}

/** Checks an index file just downloaded from `indexUrl` before it is parsed. */
type IndexCheck = (indexUrl: string, file: string) => Promise<void>;

interface PackageFormat {
  endpoint: 'alpineUrl' | 'debianUrl';
  /** What vouches for the indexes of a repository (its signed Release, for Debian). */
  indexCheck(ctx: Context, mirror: string, repository: PackageRepository, scratch: string): Promise<IndexCheck>;
  /** The repository directory a package file path is relative to, and the index URL. */
  base(mirror: string, repository: PackageRepository, name: string, arch: Arch): string;
  indexUrl(base: string, repository: PackageRepository, name: string, arch: Arch): string;
  parseIndex(data: Buffer): PackageIndex;
  /** Checks the downloaded package and returns its data archive (a tar of any compression). */
  dataArchive(ctx: Context, entry: SourcePackage): Promise<{ bytes: Buffer; suffix: string }>;
}

const PACKAGE_FORMATS: Record<PackageRepository['kind'], PackageFormat> = {
  apk: {
    endpoint: 'alpineUrl',
    async indexCheck(ctx) {
      // APKINDEX signatures need Alpine's RSA keys, which bake does not pin yet: the index is trusted as served.
      return async (indexUrl) => ctx.log.debug(`APKINDEX signature not checked: ${indexUrl}`);
    },
    base: (mirror, repository, name, arch) => `${mirror}/${repository.release}/${name}/${ARCHES[arch].machine}`,
    indexUrl: (base) => `${base}/APKINDEX.tar.gz`,
    parseIndex: (data) => parseApkIndex(apkIndexText(data)),
    async dataArchive(ctx, entry) {
      // The download is checked after it is cached: .apk files have no whole-file hash in the index.
      const path = cachePathFor(ctx.cacheDir, entry.url);
      await ctx.http.download(entry.url, path);
      const check = entry.check as { apkControlSha1: string };
      return { bytes: verifiedApkData(await readFile(path), check.apkControlSha1, entry.name), suffix: 'tar.gz' };
    },
  },
  deb: {
    endpoint: 'debianUrl',
    indexCheck: (ctx, mirror, repository, scratch) =>
      verifiedSuite(ctx, `${mirror}/dists/${repository.release}`, scratch),
    base: (mirror) => mirror,
    indexUrl: (base, repository, name, arch) =>
      `${base}/dists/${repository.release}/${name}/binary-${ARCHES[arch].goarch}/Packages.gz`,
    parseIndex: (data) => parseDebPackages(gunzipIndex(data)),
    async dataArchive(ctx, entry) {
      const check = entry.check as { sha256: string };
      const path = await downloadVerified(ctx, entry.url, cachePathFor(ctx.cacheDir, entry.url), check.sha256);
      const member = debDataMember(await readFile(path), entry.name);
      return { bytes: member.data, suffix: member.suffix };
    },
  },
};

/** Debian main's Packages is ~50 MiB; a "Packages.gz" that inflates far beyond that is refused, not held. */
const MAX_INDEX_BYTES = 512 * 1024 * 1024;

function gunzipIndex(data: Buffer): string {
  try {
    return gunzipSync(data, { maxOutputLength: MAX_INDEX_BYTES }).toString('utf8');
  } catch {
    throw inputError(
      `Packages.gz does not decompress (or exceeds ${MAX_INDEX_BYTES} bytes)`,
      'the mirror serves a corrupt or hostile index; use another mirror',
    );
  }
}

function mirrorOf(ctx: Context, repository: PackageRepository): string {
  const { endpoint } = PACKAGE_FORMATS[repository.kind];
  const configured = ctx.endpoints[endpoint] || (endpoint === 'debianUrl' ? hostDebianMirror() : undefined);
  const mirror = (configured ?? '').replace(/\/+$/, '');
  if (!mirror) {
    const flag =
      endpoint === 'alpineUrl'
        ? '--alpine-url (BAKE_ALPINE_URL)'
        : "--debian-url (BAKE_DEBIAN_URL; by default the mirror of this host's apt)";
    throw usageError(
      `no ${repository.kind === 'apk' ? 'Alpine' : 'Debian'} mirror is configured`,
      `name one with ${flag}`,
    );
  }
  return mirror;
}

/** Every repository's index merged: the first repository that lists a package wins. */
export async function fetchPackageIndex(
  ctx: Context,
  repository: PackageRepository,
  arch: Arch,
  scratch: string,
): Promise<Map<string, SourcePackage>> {
  const format = PACKAGE_FORMATS[repository.kind];
  const mirror = mirrorOf(ctx, repository);
  const merged = new Map<string, SourcePackage>();
  const check = await format.indexCheck(ctx, mirror, repository, scratch);
  for (const name of repository.repositories) {
    const base = format.base(mirror, repository, name, arch);
    const indexPath = join(scratch, `index-${repository.kind}-${name}-${arch}`);
    const indexUrl = format.indexUrl(base, repository, name, arch);
    await ctx.http.download(indexUrl, indexPath);
    await check(indexUrl, indexPath);
    for (const entry of format.parseIndex(await readFile(indexPath)).values()) {
      if (!merged.has(entry.name)) merged.set(entry.name, { ...entry, url: `${base}/${entry.file}` });
    }
  }
  return merged;
}

/** The version the index holds for a package: what `bake sysext versions` lists for wrapped recipes. */
export async function indexedVersion(
  ctx: Context,
  repository: PackageRepository,
  name: string,
  scratch: string,
): Promise<string[]> {
  const entry = (await fetchPackageIndex(ctx, repository, 'x86-64', scratch)).get(name);
  if (!entry)
    throw inputError(
      `${name} is not in the ${repository.release} index`,
      'check the package name and the repositories',
    );
  return [entry.version];
}

/** Downloads, checks and unpacks one package into `dir` (created). */
export async function unpackPackage(
  ctx: Context,
  kind: PackageRepository['kind'],
  entry: SourcePackage,
  dir: string,
  scratch: string,
): Promise<void> {
  const { bytes, suffix } = await PACKAGE_FORMATS[kind].dataArchive(ctx, entry);
  const archive = join(scratch, `${entry.name.replace(/[^\w.+-]/g, '_')}-data.${suffix}`);
  await writeFile(archive, bytes);
  await mkdir(dir, { recursive: true });
  await unpackArchive(ctx, { archive, dir, strip: 0, absoluteLinks: 'root' });
}
