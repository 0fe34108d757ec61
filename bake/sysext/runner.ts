/**
 * The BuildApi a recipe's hook receives: download + verify into the cache, extract, install files,
 * symlinks and static folders into the sysext root. Every path a recipe names is checked to stay inside
 * the root, so a hook cannot write anywhere else on the build host. Installed files are reflinked where
 * the filesystem can (btrfs, XFS), so big upstream trees cost no copy there.
 */
import { constants } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize } from 'node:path';
import { ARCHES, type Arch } from '../core/arch.ts';
import type { Context } from '../context.ts';
import { BakeError, networkError, verifyError } from '../core/errors.ts';
import { recipeDir } from './catalog.ts';
import { findChecksum } from '../core/checksums.ts';
import { runContainerBuild } from './container-build.ts';
import type { BuildApi, Recipe, Verification } from './recipe.ts';
import { sourceVersions } from './versions.ts';
import { compareVersions } from '../core/version-order.ts';
import { downloadVerified } from '../core/cache.ts';
import { cloneTree } from './tree.ts';
import { unpackArchive } from './unpack.ts';
import { allFinishedLimited } from '../core/all-finished.ts';

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
  const inRoot = (at: string) => rootPath(root, at, recipe.name);
  /** SHA-256 of every archive fetched with a checksum: the key under which its unpacked tree is cached. */
  const verified = new Map<string, string>();
  return {
    name: recipe.name,
    version: setup.version,
    arch: setup.arch,
    names: ARCHES[setup.arch],
    options: setup.options,
    url: (endpoint, path) => `${ctx.endpoints[endpoint].replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`,
    async fetch(url, verification) {
      const { path, sha256 } = await fetchVerified(ctx, url, verification);
      if (sha256) verified.set(path, sha256);
      return path;
    },
    async extract(archive, options) {
      const dir = await scratchDir(scratch, options?.into, recipe.name);
      await unpackArchive(ctx, { archive, dir, strip: options?.strip ?? 0, sha256: verified.get(archive) });
      return dir;
    },
    exists: async (path) => (await lstat(path).catch(() => undefined)) !== undefined,
    async install(from, to, mode) {
      const dest = inRoot(to);
      await mkdir(dirname(dest), { recursive: true });
      await copyFile(from, dest, constants.COPYFILE_FICLONE);
      await chmod(dest, mode ?? ((await stat(from)).mode & 0o111 ? 0o755 : 0o644));
    },
    async installTree(from, to) {
      const dest = inRoot(to);
      await mkdir(dest, { recursive: true });
      await cloneTree(from, dest, 'copy');
    },
    async symlink(target, at) {
      const dest = inRoot(at);
      await mkdir(dirname(dest), { recursive: true });
      await symlink(target, dest);
    },
    async writeFile(at, content, mode = 0o644) {
      const dest = inRoot(at);
      await mkdir(dirname(dest), { recursive: true });
      await writeFile(dest, content, { mode });
      await chmod(dest, mode);
    },
    async copyStatic(folder) {
      await cloneTree(join(recipeDir(recipe.name), folder), root, 'copy');
    },
    async remove(at) {
      const dest = inRoot(at);
      if (!(await stat(dest).catch(() => undefined))) throw new BakeError('internal', `recipe ${recipe.name} removes ${at}, which does not exist`);
      await rm(dest, { recursive: true });
    },
    async newestVersion(source) {
      const [newest] = await sourceVersions(ctx, source);
      if (!newest) throw networkError(`no versions found upstream for a dependency of ${recipe.name}`, 'check the version source endpoint');
      return newest;
    },
    buildInContainer: (build) => runContainerBuild(ctx, { ...build, recipeDir: recipeDir(recipe.name), arch: setup.arch, scratch }),
    async concurrently(steps) {
      await allFinishedLimited(steps, ctx.jobs);
    },
    compareVersions,
    log: (message) => ctx.log.info(`${recipe.name}: ${message}`),
  };
}

/** A recipe-relative path inside the root; absolute paths and `..` are recipe bugs. */
function rootPath(root: string, at: string, recipeName: string): string {
  const clean = normalize(at);
  if (isAbsolute(clean) || clean === '..' || clean.startsWith('../')) {
    throw new BakeError('internal', `recipe ${recipeName} writes outside its sysext root: ${at}`);
  }
  return join(root, clean);
}

/** A fresh directory in scratch, or the caller's `into` after checking it is inside scratch. */
async function scratchDir(scratch: string, into: string | undefined, recipeName: string): Promise<string> {
  if (into === undefined) return mkdtemp(join(scratch, 'extract-'));
  const clean = normalize(into);
  if (!clean.startsWith(`${scratch}/`)) throw new BakeError('internal', `recipe ${recipeName} extracts outside its scratch space: ${into}`);
  await mkdir(clean, { recursive: true });
  return clean;
}

/** Where a URL's download lives in the cache: host and path, readable and stable across runs. */
export function cachePathFor(cacheDir: string, url: string): string {
  const parsed = new URL(url);
  const path = decodeURIComponent(parsed.pathname).split('/').filter((part) => part && part !== '..').join('/');
  return join(cacheDir, 'sysext', 'downloads', parsed.host.replace(/[^\w.-]/g, '_'), path);
}

async function expectedHash(ctx: Context, url: string, verification: Verification): Promise<string | undefined> {
  if ('sha256' in verification) return verification.sha256.toLowerCase();
  if ('unverified' in verification) {
    ctx.log.debug(`not verifying ${url}: ${verification.unverified}`);
    return undefined;
  }
  const fileName = verification.fileName ?? decodeURIComponent(basename(new URL(url).pathname));
  const hash = findChecksum(await ctx.http.getText(verification.checksumUrl), fileName);
  if (!hash) {
    throw verifyError(`no checksum for ${fileName} in ${verification.checksumUrl}`, 'the upstream checksum file does not list it; refusing to use an unverified download');
  }
  return hash;
}

/** Cached download, checked against the upstream hash (returned, when there is one) even when it came from the cache. */
async function fetchVerified(ctx: Context, url: string, verification: Verification): Promise<{ path: string; sha256?: string }> {
  const sha256 = await expectedHash(ctx, url, verification);
  const dest = cachePathFor(ctx.cacheDir, url);
  if (sha256) return { path: await downloadVerified(ctx, url, dest, sha256), sha256 };
  await ctx.http.download(url, dest);
  return { path: dest };
}
