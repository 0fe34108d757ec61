/**
 * Wrapping distribution packages (Alpine's, Debian's) so they run on Flatcar, whose libc and library
 * paths are its own: the packages and their whole dependency closure go below usr/lib/<name>/ (the
 * bundle), absolute symlinks in it are pointed back into the bundle, and each exposed executable gets
 * the bundle's copy of its own ELF interpreter and a DT_RPATH over the bundle's library directories
 * (DT_RPATH, not RUNPATH: it also applies to the libraries' own dependencies), then a link in usr/bin.
 * Static executables need no rewrite and are only linked. patchelf does the rewriting.
 */
import { mkdir, mkdtemp, readlink, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import type { Context } from '../context.ts';
import { allFinished } from '../core/all-finished.ts';
import type { Arch } from '../core/arch.ts';
import { inputError, usageError } from '../core/errors.ts';
import { folderInside } from './confine.ts';
import { dependencyClosure } from './package-index.ts';
import { fetchPackageIndex, unpackPackage } from './package-source.ts';
import type { PackageRepository, Recipe, WrapRequest } from './recipe.ts';
import { cloneTree, type TreeEntry, walkTree } from './tree.ts';

export interface WrapJob {
  request: WrapRequest;
  /** The extension's name: the bundle is usr/lib/<name>. */
  name: string;
  arch: Arch;
  /** The sysext root and scratch space of the build. */
  root: string;
  scratch: string;
}

const EXECUTABLE_DIRS = /^(usr\/)?s?bin\/[^/]+$/;
const SHARED_LIBRARY = /\.so(\.\d+)*$/;

export async function wrapPackages(ctx: Context, job: WrapJob): Promise<void> {
  const { request } = job;
  const index = await fetchPackageIndex(ctx, request, job.arch, job.scratch);
  const first = index.get(request.packages[0] ?? '');
  if (first && request.version !== undefined && first.version !== request.version) {
    throw inputError(
      `${first.name} ${request.version} is not in the ${request.release} index (it has ${first.version})`,
      `build ${first.version}, or 'latest'`,
    );
  }
  const packages = dependencyClosure(index, request.packages, request.skip);
  ctx.log.info(`${job.name}: bundling ${packages.map((p) => `${p.name} ${p.version}`).join(', ')}`);
  const staging = await mkdtemp(join(job.scratch, 'wrap-'));
  const dirs = packages.map((_, position) => join(staging, String(position)));
  await allFinished(
    packages.map((entry, position) => unpackPackage(ctx, request.kind, entry, dirs[position]!, job.scratch)),
  );
  const bundle = `usr/lib/${job.name}`;
  const bundleDir = await folderInside(job.root, bundle, 'the sysext');
  for (const dir of dirs) await cloneTree(dir, bundleDir, 'copy');
  const entries = await walkTree(join(job.root, bundle));
  await pointLinksIntoBundle(job.root, bundle, entries);
  const expose = request.expose ?? (await rootExecutables(dirs.slice(0, request.packages.length)));
  const libraryPath = libraryDirs(bundle, entries).join(':');
  for (const path of expose) await exposeExecutable(ctx, job, { bundle, entries, path, libraryPath });
}

/** An absolute link target means the target system's path: inside the bundle, that is below it. */
async function pointLinksIntoBundle(root: string, bundle: string, entries: readonly TreeEntry[]): Promise<void> {
  for (const entry of entries.filter((e) => e.kind === 'symlink')) {
    const at = join(root, bundle, entry.path);
    const target = await readlink(at);
    if (!target.startsWith('/')) continue;
    await unlink(at);
    await symlink(`/${bundle}${posix.normalize(target)}`, at);
  }
}

/** The executables in the requested packages' bin directories (not their dependencies'). */
async function rootExecutables(dirs: readonly string[]): Promise<string[]> {
  const found = await Promise.all(
    dirs.map(async (dir) =>
      (await walkTree(dir)).filter((e) => e.kind === 'file' && e.mode & 0o111 && EXECUTABLE_DIRS.test(e.path)),
    ),
  );
  return found.flat().map((entry) => entry.path);
}

/** Every bundle directory holding a shared library, as the target system sees it. */
function libraryDirs(bundle: string, entries: readonly TreeEntry[]): string[] {
  const dirs = entries
    .filter((e) => e.kind !== 'dir' && SHARED_LIBRARY.test(e.path))
    .map((e) => `/${bundle}/${dirname(e.path)}`);
  return [...new Set(dirs)].sort();
}

interface Exposure {
  bundle: string;
  entries: readonly TreeEntry[];
  /** The executable's path in the packages. */
  path: string;
  libraryPath: string;
}

/**
 * Only paths the walk listed as regular files are rewritten: a listed path has no symlink in it, so
 * patchelf cannot be steered out of the bundle.
 */
async function exposeExecutable(ctx: Context, job: WrapJob, exposure: Exposure): Promise<void> {
  const { bundle, entries, path } = exposure;
  const clean = posix.normalize(path).replace(/^\/+/, '');
  if (!entries.some((e) => e.path === clean && e.kind === 'file')) {
    throw inputError(
      `${path} is not a file in the packages of ${job.name}`,
      'name an executable the packages ship, e.g. usr/bin/<tool>',
    );
  }
  const file = join(job.root, bundle, clean);
  const interpreter = await ctx.run.run('patchelf', ['--print-interpreter', file], {
    readOnly: true,
    allowFailure: true,
    why: 'rewrite wrapped executables',
  });
  if (interpreter.exitCode === 0) {
    const own = posix.normalize(interpreter.stdout.trim()).replace(/^\/+/, '');
    if (!entries.some((e) => e.path === own && e.kind !== 'dir')) {
      throw inputError(
        `${path} needs the interpreter /${own}, which its packages do not ship`,
        'add the package that ships it (its libc)',
      );
    }
    const args = ['--set-interpreter', `/${bundle}/${own}`, '--force-rpath', '--set-rpath', exposure.libraryPath, file];
    await ctx.run.run('patchelf', args, { why: 'rewrite wrapped executables' });
  }
  const link = join(job.root, 'usr/bin', basename(clean));
  await mkdir(dirname(link), { recursive: true });
  await symlink(`/${bundle}/${clean}`, link);
}

/** What `bake sysext wrap` asks for: packages from one repository, bundled as one extension. */
export interface AdHocWrap {
  kind: PackageRepository['kind'];
  packages: readonly string[];
  /** The extension name; default the first package's. */
  name?: string;
  release?: string;
  repositories?: readonly string[];
  skip?: readonly string[];
  expose?: readonly string[];
}

/** Where packages come from when the user names none: the releases and repositories the recipes use. */
const DEFAULT_REPOSITORIES: Record<PackageRepository['kind'], Omit<PackageRepository, 'kind'>> = {
  apk: { release: 'latest-stable', repositories: ['main', 'community'] },
  deb: { release: 'bookworm', repositories: ['main'] },
};

/** A recipe made on the spot: versions from the index, the build a wrap of the packages. */
export function adHocWrapRecipe(wrap: AdHocWrap): Recipe {
  const [first] = wrap.packages;
  if (!first) throw usageError('no package named', 'e.g. bake sysext wrap --deb tilde');
  const defaults = DEFAULT_REPOSITORIES[wrap.kind];
  const repository: PackageRepository = {
    kind: wrap.kind,
    release: wrap.release ?? defaults.release,
    repositories: wrap.repositories ?? defaults.repositories,
  };
  return {
    name: wrap.name ?? first,
    description: `${wrap.packages.join(', ')} (${wrap.kind} packages, bundled with their libraries)`,
    versions: { kind: 'package-index', repository, package: first },
    arches: ['x86-64', 'arm64'],
    reload: false,
    verifiesChecksums: true,
    async build(api) {
      const optional = { ...(wrap.skip ? { skip: wrap.skip } : {}), ...(wrap.expose ? { expose: wrap.expose } : {}) };
      await api.wrapPackages({ ...repository, packages: wrap.packages, version: api.version, ...optional });
    },
  };
}
