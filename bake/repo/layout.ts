/**
 * A repository on disk, in the bakery's release model (docs/flatcar-facts.md §6): one directory per
 * GitHub-style release, so a directory can be uploaded as a release of the same tag.
 *
 *   <repo>/<name>-<version>/<name>-<version>-<arch>.raw   the images of one version (one per arch)
 *   <repo>/<name>-<version>/SHA256SUMS                     those images; written last, so it marks "published"
 *   <repo>/<name>-<version>/<name>.conf (+ <name>-vX.Y.conf) sysupdate transfer configs
 *   <repo>/<name>/SHA256SUMS (+ .gpg, + the newest confs)   per-extension metadata: every version's sums
 *   <repo>/SHA256SUMS (+ .gpg)                             global metadata: every extension's sums
 *
 * Published releases are never touched again; only the metadata is regenerated.
 */
import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Arch } from '../core/arch.ts';
import { formatSums, parseSums, type SumLine } from '../core/checksums.ts';
import { inputError } from '../core/errors.ts';
import { replaceFile } from '../core/replace-file.ts';
import { compareVersions } from '../core/version-order.ts';
import { parseImageFileName, parseReleaseTag, releaseTag } from './names.ts';

export const SUMS = 'SHA256SUMS';
export const SIGNATURE = 'SHA256SUMS.gpg';

export interface PublishedRelease {
  name: string;
  version: string;
  tag: string;
  arches: Arch[];
  /** The image lines of the release's SHA256SUMS. */
  sums: SumLine[];
  /** File names of the sysupdate configs in the release directory. */
  confs: string[];
}

/** Every published release in `repoDir`, ordered by name, then version (oldest first). */
export async function readRepository(repoDir: string): Promise<PublishedRelease[]> {
  const entries = await readdir(repoDir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const releases: PublishedRelease[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const release = await readRelease(join(repoDir, entry.name), entry.name);
    if (release) releases.push(release);
  }
  return releases.sort((a, b) =>
    a.name === b.name ? compareVersions(a.version, b.version) : a.name < b.name ? -1 : 1,
  );
}

/** A directory is a release when its SHA256SUMS lists `<dir>-<arch>.raw` images; metadata dirs list other tags. */
async function readRelease(dir: string, tag: string): Promise<PublishedRelease | undefined> {
  const parsedTag = parseReleaseTag(tag);
  if (!parsedTag) return undefined;
  const text = await readFile(join(dir, SUMS), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const sums = parseSums(text, join(dir, SUMS));
  const images = sums.map((line) => parseImageFileName(line.file));
  const own = images.filter((image) => image && releaseTag(image.name, image.version) === tag);
  if (own.length === 0 || own.length !== sums.length) return undefined;
  // Only the release's own files: a conf that links elsewhere would be copied into the metadata and served.
  const files = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name);
  return {
    ...parsedTag,
    tag,
    arches: own.map((image) => image!.arch),
    sums,
    confs: files.filter((file) => file.endsWith('.conf')).sort(),
  };
}

export { replaceFile };

/** Writes `path` via replaceFile; returns false when a regular file with that content was already there. */
export async function writeFileAtomic(path: string, content: string): Promise<boolean> {
  const isFile = (await lstat(path).catch(() => undefined))?.isFile() ?? false;
  if (isFile && (await readFile(path, 'utf8')) === content) return false;
  await replaceFile(path, (temporary) => writeFile(temporary, content, { flag: 'wx' }));
  return true;
}

/** `dir` as a directory of its own: created if missing, refused when it is a symlink (it would lead out of the repository). */
async function ownDirectory(dir: string): Promise<void> {
  await mkdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  if (!(await lstat(dir)).isDirectory()) {
    throw inputError(
      `${dir} is not a directory of the repository (a symlink or a file)`,
      "remove it; bake repo build writes the extension's metadata there",
    );
  }
}

export interface MetadataResult {
  /** Every SHA256SUMS sysupdate may read (per-extension and global), relative to the repo. */
  manifests: string[];
  /** Manifests whose content changed; their old signatures were removed. */
  changed: string[];
}

/**
 * Regenerates the per-extension and global metadata from the published releases. A manifest that
 * changes loses its stale `SHA256SUMS.gpg`, so a client with Verify=yes refuses it until it is re-signed
 * rather than trusting a signature over different content.
 */
export async function writeMetadata(repoDir: string, releases: readonly PublishedRelease[]): Promise<MetadataResult> {
  const byName = new Map<string, PublishedRelease[]>();
  for (const release of releases) byName.set(release.name, [...(byName.get(release.name) ?? []), release]);
  const manifests: string[] = [];
  const changed: string[] = [];
  const everything: SumLine[] = [];
  for (const [name, versions] of byName) {
    const metadataDir = join(repoDir, name);
    await ownDirectory(metadataDir);
    const lines = versions.flatMap((release) => release.sums);
    everything.push(...lines);
    await copyNewestConfs(repoDir, metadataDir, versions);
    const manifest = join(name, SUMS);
    manifests.push(manifest);
    if (await writeManifest(repoDir, manifest, lines)) changed.push(manifest);
  }
  manifests.push(SUMS);
  if (await writeManifest(repoDir, SUMS, everything)) changed.push(SUMS);
  return { manifests, changed };
}

async function writeManifest(repoDir: string, manifest: string, lines: SumLine[]): Promise<boolean> {
  const wrote = await writeFileAtomic(join(repoDir, manifest), formatSums(lines));
  if (wrote) await rm(join(repoDir, `${manifest}.gpg`), { force: true });
  return wrote;
}

/** Each conf name (`docker.conf`, `kubernetes-v1.32.conf`) comes from the newest release that has it. */
async function copyNewestConfs(
  repoDir: string,
  metadataDir: string,
  versions: readonly PublishedRelease[],
): Promise<void> {
  const newest = new Map<string, PublishedRelease>();
  for (const release of versions) for (const conf of release.confs) newest.set(conf, release); // versions are oldest first
  for (const [conf, release] of newest) {
    await replaceFile(join(metadataDir, conf), (temporary) =>
      copyFile(join(repoDir, release.tag, conf), temporary, constants.COPYFILE_EXCL),
    );
  }
}
