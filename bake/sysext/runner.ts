/**
 * The BuildApi a recipe's hook receives: download + verify into the cache, extract, install files,
 * symlinks and static folders into the sysext root. Every path a recipe names is checked to stay inside
 * the root and is written without going through a link; every file it reads is resolved inside the tree
 * it came from (see SourceTrees), so neither a hook nor an archive reaches anywhere else on the host.
 * Installed files are reflinked where the filesystem can (btrfs, XFS), so big upstream trees cost no
 * copy there.
 */
import { constants } from 'node:fs';
import { chmod, copyFile, lstat, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, relative } from 'node:path';
import type { Context } from '../context.ts';
import { allFinishedLimited } from '../core/all-finished.ts';
import { ARCHES, type Arch } from '../core/arch.ts';
import { downloadVerified } from '../core/cache.ts';
import { findChecksum } from '../core/checksums.ts';
import { type Endpoint, endpointValue } from '../core/endpoints.ts';
import { BakeError, inputError, networkError, verifyError } from '../core/errors.ts';
import { compareVersions } from '../core/version-order.ts';
import { recipeDir } from './catalog.ts';
import { CONFINED_HINT, existingFolderInside, folderInside, resolveInside } from './confine.ts';
import { runContainerBuild } from './container-build.ts';
import { cachePathFor } from './download-path.ts';
import { githubAssetDigest, signedText } from './evidence.ts';
import type { BuildApi, Recipe, Verification, VersionSource } from './recipe.ts';
import { cloneTree, replacing, TreeConflict } from './tree.ts';
import { unpackArchive } from './unpack.ts';
import { sourceVersions } from './versions.ts';
import { wrapPackages } from './wrap.ts';

export { cachePathFor };

export interface BuildSetup {
  recipe: Recipe;
  version: string;
  arch: Arch;
  options: Record<string, string | boolean>;
  /** The sysext root being filled. */
  root: string;
  /** Scratch space for extraction and container outputs; removed by the caller. */
  scratch: string;
}

export function createBuildApi(ctx: Context, setup: BuildSetup): BuildApi {
  const { recipe, root, scratch } = setup;
  const destination = (at: string) => rootPath(root, at, recipe.name);
  /** SHA-256 of every archive fetched with a checksum: the key under which its unpacked tree is cached. */
  const verified = new Map<string, string>();
  const sources = new SourceTrees(recipe.name);
  return {
    name: recipe.name,
    version: setup.version,
    arch: setup.arch,
    names: ARCHES[setup.arch],
    options: setup.options,
    url: (endpoint, path) => endpointUrl(ctx, recipe, endpoint, path),
    async fetch(url, verification) {
      const { path, sha256 } = await fetchVerified(ctx, url, verification);
      if (sha256) verified.set(path, sha256);
      sources.addFile(path);
      return path;
    },
    async extract(archive, options) {
      const dir = await scratchDir(scratch, options?.into, recipe.name);
      await unpackArchive(ctx, { archive, dir, strip: options?.strip ?? 0, sha256: verified.get(archive) });
      sources.addTree(dir, basename(archive));
      return dir;
    },
    readVersionPin: (url, pattern) => readVersionPin(ctx, url, pattern),
    exists: async (path) => (await lstat(path).catch(() => undefined)) !== undefined,
    async install(from, to, mode) {
      const source = await sources.resolve(from, 'file');
      const dest = await destination(to);
      await replacing(dest, () => copyFile(source, dest, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL));
      await chmod(dest, mode ?? ((await lstat(source)).mode & 0o111 ? 0o755 : 0o644));
    },
    async installTree(from, to) {
      const source = await sources.resolve(from, 'folder');
      const dest = await folderInside(root, relativeInRoot(to, recipe.name), SYSEXT_TREE);
      await cloneTree(source, dest, 'copy').catch((error: unknown) => {
        throw error instanceof TreeConflict ? sources.explainConflict(error, root) : error;
      });
    },
    async symlink(target, at) {
      const dest = await destination(at);
      await symlink(target, dest);
    },
    async writeFile(at, content, mode = 0o644) {
      const dest = await destination(at);
      await replacing(dest, () => writeFile(dest, content, { mode, flag: 'wx' }));
      await chmod(dest, mode);
    },
    async copyStatic(folder) {
      await cloneTree(join(recipeDir(recipe.name), folder), root, 'copy');
    },
    async remove(at) {
      const entry = relativeInRoot(at, recipe.name);
      const parent = await existingFolderInside(root, dirname(entry), SYSEXT_TREE);
      const dest = parent && join(parent, basename(entry));
      if (!dest || !(await lstat(dest).catch(() => undefined)))
        throw new BakeError('internal', `recipe ${recipe.name} removes ${at}, which does not exist`);
      await rm(dest, { recursive: true });
    },
    newestVersion: (source) => newestVersion(ctx, source, recipe.name),
    wrapPackages: (request) => wrapPackages(ctx, { request, name: recipe.name, arch: setup.arch, root, scratch }),
    async buildInContainer(build) {
      const out = await runContainerBuild(ctx, {
        ...build,
        recipeDir: recipeDir(recipe.name),
        arch: setup.arch,
        scratch,
      });
      sources.addTree(out, `the ${build.image} build's /out`);
      return out;
    },
    async concurrently(steps) {
      await allFinishedLimited(steps, ctx.jobs);
    },
    compareVersions,
    log: (message) => ctx.log.info(`${recipe.name}: ${message}`),
  };
}

/**
 * An upstream URL: the endpoint's configured base plus `path`. A recipe endpoint the recipe does not
 * declare would have no flag or variable to point it at a mirror, so it is a bug in the recipe.
 */
export function endpointUrl(ctx: Context, recipe: Recipe, endpoint: Endpoint, path: string): string {
  if (typeof endpoint !== 'string' && !recipe.endpoints?.includes(endpoint))
    throw new Error(`sysexts/${recipe.name} uses ${endpoint.flag} without declaring it in its endpoints`);
  return `${endpointValue(ctx.endpoints, endpoint).replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** A version pin read from upstream, refused unless it matches `pattern` (it goes into the next URL). */
export async function readVersionPin(ctx: Context, url: string, pattern: RegExp): Promise<string> {
  const pin = (await ctx.http.getText(url)).trim();
  if (!pattern.test(pin))
    throw inputError(`${url} pins ${JSON.stringify(pin.slice(0, 40))}, not a version`, 'check the upstream endpoint');
  return pin;
}

export async function newestVersion(ctx: Context, source: VersionSource, recipeName: string): Promise<string> {
  const [newest] = await sourceVersions(ctx, source);
  if (!newest)
    throw networkError(
      `no versions found upstream for a dependency of ${recipeName}`,
      'check the version source endpoint',
    );
  return newest;
}

const SYSEXT_TREE = 'the sysext tree';

/** A recipe-relative path inside the root; absolute paths and `..` are recipe bugs. */
function relativeInRoot(at: string, recipeName: string): string {
  const clean = normalize(at);
  if (isAbsolute(clean) || clean === '..' || clean.startsWith('../')) {
    throw new BakeError('internal', `recipe ${recipeName} writes outside its sysext root: ${at}`);
  }
  return clean;
}

/** Where a recipe writes `at`: its folder made inside the root without going through a link. */
async function rootPath(root: string, at: string, recipeName: string): Promise<string> {
  const entry = relativeInRoot(at, recipeName);
  return join(await folderInside(root, dirname(entry), SYSEXT_TREE), basename(entry));
}

/**
 * What a recipe may read: the files it fetched, and the trees it extracted or built, each under the
 * name of where it came from. A path into a tree is resolved inside that tree, so a link in an archive
 * (or one a build left behind) never leads a read onto the build host.
 */
class SourceTrees {
  private readonly files = new Set<string>();
  private readonly trees = new Map<string, string>();

  constructor(private readonly recipeName: string) {}

  addFile(path: string): void {
    this.files.add(path);
  }

  addTree(dir: string, label: string): void {
    if (this.treeOf(dir) === undefined) this.trees.set(dir, label);
  }

  /** The real path of `from`, which must be a `kind` inside what the recipe fetched, extracted or built. */
  async resolve(from: string, kind: 'file' | 'folder'): Promise<string> {
    const clean = normalize(from);
    if (this.files.has(clean)) return clean;
    const tree = this.treeOf(clean);
    if (tree === undefined)
      throw new BakeError(
        'internal',
        `recipe ${this.recipeName} reads ${from}, which it did not fetch, extract or build`,
      );
    const entry = relative(tree, clean);
    const resolved = await resolveInside(tree, entry);
    const label = this.trees.get(tree)!;
    if (resolved === undefined) throw inputError(`${label}: ${entry} leads out of its tree`, CONFINED_HINT);
    const stats = await lstat(resolved).catch(() => undefined);
    if (kind === 'file' ? !stats?.isFile() : !stats?.isDirectory())
      throw inputError(`${label}: ${entry} is not a ${kind}`, `recipe ${this.recipeName} expects one there`);
    return resolved;
  }

  /** A TreeConflict named after the tree entry and the place in the sysext it would have replaced. */
  explainConflict(conflict: TreeConflict, root: string): BakeError {
    const { source, dest } = conflict;
    const tree = this.treeOf(source.path);
    const entry = tree === undefined ? source.path : relative(tree, source.path);
    const label = tree === undefined ? `recipe ${this.recipeName}` : this.trees.get(tree)!;
    return inputError(
      `${label}: ${entry} is ${source.kind} where the sysext has ${dest.kind} (${relative(root, dest.path)})`,
      conflict.hint,
    );
  }

  /** The outermost tree holding `path` (an archive extracted into another one belongs to both). */
  private treeOf(path: string): string | undefined {
    return [...this.trees.keys()].find((tree) => path === tree || path.startsWith(`${tree}/`));
  }
}

/** A fresh directory in scratch, or the caller's `into` after checking it is inside scratch. */
async function scratchDir(scratch: string, into: string | undefined, recipeName: string): Promise<string> {
  if (into === undefined) return mkdtemp(join(scratch, 'extract-'));
  const clean = normalize(into);
  if (!clean.startsWith(`${scratch}/`))
    throw new BakeError('internal', `recipe ${recipeName} extracts outside its scratch space: ${into}`);
  return folderInside(scratch, relative(scratch, clean), 'the scratch space');
}

async function expectedHash(ctx: Context, url: string, verification: Verification): Promise<string | undefined> {
  if ('sha256' in verification) return verification.sha256.toLowerCase();
  if ('unverified' in verification) {
    ctx.log.debug(`not verifying ${url}: ${verification.unverified}`);
    return undefined;
  }
  const urlName = decodeURIComponent(basename(new URL(url).pathname));
  if ('githubAssetDigest' in verification) return githubAssetDigest(ctx, urlName, verification.githubAssetDigest);
  const fileName = verification.fileName ?? urlName;
  const sums = verification.signature
    ? await signedText(ctx, verification.checksumUrl, verification.signature)
    : await ctx.http.getText(verification.checksumUrl);
  const hash = findChecksum(sums, fileName);
  if (!hash) {
    throw verifyError(
      `no checksum for ${fileName} in ${verification.checksumUrl}`,
      'the upstream checksum file does not list it; refusing to use an unverified download',
    );
  }
  return hash;
}

/** Cached download, checked against the upstream hash (returned, when there is one) even when it came from the cache. */
async function fetchVerified(
  ctx: Context,
  url: string,
  verification: Verification,
): Promise<{ path: string; sha256?: string }> {
  const sha256 = await expectedHash(ctx, url, verification);
  const dest = cachePathFor(ctx.cacheDir, url);
  if (sha256) return { path: await downloadVerified(ctx, url, dest, sha256), sha256 };
  await ctx.http.download(url, dest);
  return { path: dest };
}
