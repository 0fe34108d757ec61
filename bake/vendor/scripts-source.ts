/**
 * flatcar/scripts at the release's tag (`<channel>-<version>`), as a source tarball fetched through the
 * HTTP client. Its scripts run as root in a privileged container, so the tarball must match a pin before
 * anything runs: the tag's git tree (SCRIPTS_TAG_TREES: GitHub builds its tarballs on demand and their
 * bytes may change, what they hold does not), checked by unpacking into a private folder and hashing it
 * with git; or the SHA-256 the user names. Only a verified tarball is cached, its marker bound to that pin,
 * and every use unpacks and checks it again.
 */
import { chmod, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { SCRIPTS_TAG_TREES } from '../../vendors/scripts-pins.ts';
import type { Context } from '../context.ts';
import { downloadVerified, markerMatches, writeMarker } from '../core/cache.ts';
import { tempDir } from '../core/cleanup.ts';
import { isBakeError, verifyError } from '../core/errors.ts';
import { walkTree } from '../sysext/tree.ts';
import { unpack } from '../sysext/unpack.ts';
import { scriptsTag, scriptsTarballUrl, type VendorRelease } from './plan.ts';
import { judgeDigest, requireSecureSource, type ScriptsTrust } from './scripts-trust.ts';

interface ScriptsSource {
  url: string;
  what: string;
  /** Where a verified tarball is kept. */
  cached: string;
}

type Verdict = 'verified' | 'unchecked';

export async function fetchScriptsCheckout(
  ctx: Context,
  release: VendorRelease,
  dest: string,
  trust: ScriptsTrust,
): Promise<void> {
  const tag = scriptsTag(release);
  const source = {
    url: scriptsTarballUrl(ctx.endpoints, release),
    what: `the flatcar/scripts tarball ${tag}`,
    cached: join(ctx.cacheDir, 'flatcar-scripts', `${tag}.tar.gz`),
  };
  requireSecureSource(source.url, source.what, trust);
  await mkdir(dest, { recursive: true });
  if (trust.sha256) {
    const tarball = await downloadVerified(ctx, source.url, source.cached, trust.sha256);
    await checkout(ctx, tarball, dest, source.what);
    return;
  }
  const tree = trust.tree ?? SCRIPTS_TAG_TREES[tag];
  if (!tree && !trust.insecure) {
    throw verifyError(
      `bake has no pinned git tree for ${source.what}`,
      'pass --scripts-sha256 <its sha256> once you have checked it against the signed tag, or --insecure-scripts',
    );
  }
  const judge = (actual: string) => judgeDigest(source.what, actual, tree ? [tree] : [], trust, ctx.log, 'git tree');
  if (tree && (await checkoutCached(ctx, source, dest, tree, judge))) return;
  await fetchAndCheckout(ctx, source, dest, judge, tree);
}

const markerLabel = (tree: string) => `git tree ${tree}`;

/** Checks out the cached tarball if its marker vouches for it; one that no longer holds the tree is dropped. */
async function checkoutCached(
  ctx: Context,
  source: ScriptsSource,
  dest: string,
  tree: string,
  judge: (actual: string) => Verdict,
): Promise<boolean> {
  if (!(await markerMatches(`${source.cached}.verified`, [source.cached], markerLabel(tree)))) return false;
  try {
    await checkout(ctx, source.cached, dest, source.what, judge);
    return true;
  } catch (error) {
    if (!isBakeError(error) || error.kind !== 'verify') throw error;
    ctx.log.warn(`cached ${source.cached} no longer holds ${source.what} (${error.message}); downloading it again`);
    await rm(source.cached, { force: true });
    return false;
  }
}

/** Downloads into a private folder beside the cache; only a tarball that holds the pinned tree is kept. */
async function fetchAndCheckout(
  ctx: Context,
  source: ScriptsSource,
  dest: string,
  judge: (actual: string) => Verdict,
  tree: string | undefined,
): Promise<void> {
  const folder = join(source.cached, '..');
  await mkdir(folder, { recursive: true });
  await using scratch = await tempDir('.download', folder);
  const tarball = join(scratch.path, basename(source.cached));
  await ctx.http.download(source.url, tarball);
  if ((await checkout(ctx, tarball, dest, source.what, judge)) !== 'verified' || !tree) return;
  await rename(tarball, source.cached);
  await writeMarker(`${source.cached}.verified`, [source.cached], markerLabel(tree));
}

/**
 * Unpacks `tarball` into a private folder beside `dest`, makes its tree what git would check out, has
 * `judge` (if any) rule on its git tree id, and only then moves it to `dest`, an empty folder.
 */
async function checkout(
  ctx: Context,
  tarball: string,
  dest: string,
  what: string,
  judge?: (actual: string) => Verdict,
): Promise<Verdict> {
  const fresh = await mkdtemp(`${dest}.unpack-`);
  try {
    await unpack(ctx, tarball, fresh, 0);
    const top = await onlyFolder(fresh, what);
    await normaliseTree(top, what);
    const verdict = judge ? judge(await gitTreeId(ctx, top, what)) : 'verified';
    await rename(top, dest);
    return verdict;
  } finally {
    await rm(fresh, { recursive: true, force: true });
  }
}

/** A GitHub source tarball holds one folder (`scripts-<tag>/`); its name is not part of the tree. */
async function onlyFolder(dir: string, what: string): Promise<string> {
  const entries = await readdir(dir, { withFileTypes: true });
  if (entries.length !== 1 || !entries[0]!.isDirectory()) {
    throw verifyError(
      `${what} holds ${entries.map((entry) => entry.name).join(', ') || 'nothing'} at its top, not one folder`,
      'a source tarball of the tag holds one folder; check the mirror',
    );
  }
  return join(dir, entries[0]!.name);
}

/**
 * Refuses what git cannot record, so no byte of the checkout escapes the tree id: device nodes, FIFOs and
 * sockets (git skips them) and `.git` entries (git skips or refuses them). Sets every mode to the one git
 * would check out (0755 or 0644 by the owner's execute bit): git records nothing else, so set-ID bits or
 * write access for others would otherwise ride along unchecked.
 */
async function normaliseTree(top: string, what: string): Promise<void> {
  for (const entry of await walkTree(top)) {
    if (entry.kind === 'other' || entry.path.split('/').some((part) => part.toLowerCase() === '.git')) {
      throw verifyError(
        `${what} holds ${entry.path}, which git cannot record`,
        "a source tarball of the tag holds only the tag's files; check the mirror",
      );
    }
    if (entry.kind === 'symlink') continue;
    await chmod(join(top, entry.path), entry.kind === 'dir' || entry.mode & 0o100 ? 0o755 : 0o644);
  }
  await chmod(top, 0o755);
}

/**
 * The git tree id of `top`, computed by git in a private repository outside it, with no system, user or
 * attribute configuration that could filter what it hashes.
 */
async function gitTreeId(ctx: Context, top: string, what: string): Promise<string> {
  await using repo = await tempDir('bake-git-tree');
  const env = {
    GIT_DIR: repo.path,
    GIT_WORK_TREE: top,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ATTR_NOSYSTEM: '1',
  };
  const git = (args: string[], allowFailure = false) =>
    ctx.run.run('git', ['-c', 'core.attributesFile=/dev/null', ...args], {
      env,
      cwd: top,
      allowFailure,
      why: 'hash the flatcar/scripts tarball as git does',
    });
  await git(['init', '--quiet', '--template=']);
  const added = await git(['add', '--all', '--force'], true);
  if (added.exitCode !== 0) {
    throw verifyError(
      `${what} holds a path git cannot record (${added.stderr.split('\n')[0]})`,
      "a source tarball of the tag holds only the tag's files; check the mirror",
    );
  }
  return (await git(['write-tree'])).stdout.trim();
}
