/**
 * `bake repo build`: build every release the build list wants and the repository lacks, publish each
 * one atomically (a hidden directory renamed to its tag once its SHA256SUMS is written), then
 * regenerate the per-extension and global metadata and, given a key, sign it. How an image is made is
 * the builder's business (the sysext creator in the product, tiny local trees in tests).
 */
import { copyFile, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Context } from '../context.ts';
import type { Arch } from '../core/arch.ts';
import { formatSums, type SumLine, sha256File } from '../core/checksums.ts';
import { BakeError, oneLine } from '../core/errors.ts';
import { type MetadataResult, readRepository, SUMS, writeFileAtomic, writeMetadata } from './layout.ts';
import { imageFileName } from './names.ts';
import {
  type BuildPlan,
  type Failure,
  type PlannedBuild,
  planBuilds,
  resolveBuildList,
  type Upstream,
} from './plan.ts';
import { type SigningKey, signRepository } from './sign.ts';
import type { BuildListEntry } from './versions-file.ts';

export interface BuildRequest {
  name: string;
  version: string;
  arch: Arch;
  /** A scratch directory the builder may write into; removed afterwards. */
  outputDir: string;
  /** Where the repository wants the image: `<outputDir>/<name>-<version>-<arch>.raw`. */
  outputFile: string;
  /** For the transfer configs: the repository's public base URL and whether clients verify signatures. */
  sysupdate: { bakeryUrl: string; verify: boolean };
}

export interface BuiltImage {
  image: string;
  /** Paths of the sysupdate transfer configs written for this image. */
  confs: string[];
}

export type SysextBuilder = (request: BuildRequest) => Promise<BuiltImage>;

export interface RepoBuildOptions {
  repoDir: string;
  entries: readonly BuildListEntry[];
  arches: readonly Arch[];
  upstream: Upstream;
  builder: SysextBuilder;
  /** Base URL the repository is served under, written into the confs' Path=. */
  bakeryUrl: string;
  verify: boolean;
  /** Sign the regenerated metadata (and the new releases) with this key. */
  signingKey?: SigningKey;
}

export interface RepoBuildSummary {
  plan: BuildPlan;
  built: string[];
  failed: Failure[];
  metadata?: MetadataResult;
  signed: string[];
}

export async function buildRepository(ctx: Context, options: RepoBuildOptions): Promise<RepoBuildSummary> {
  const resolution = await resolveBuildList(options.entries, options.upstream);
  const plan = planBuilds(resolution.wanted, await readRepository(options.repoDir), options.arches);
  const summary: RepoBuildSummary = { plan, built: [], failed: [...resolution.failed], signed: [] };
  if (ctx.dryRun) return summary;
  await mkdir(options.repoDir, { recursive: true });
  for (const release of plan.build) {
    ctx.signal.throwIfAborted();
    try {
      ctx.log.info(`building ${release.tag} (${release.arches.join(', ')})`);
      await publishRelease(options, release);
      summary.built.push(release.tag);
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      ctx.log.warn(`${release.tag} failed: ${oneLine(error)}`);
      summary.failed.push({ name: release.name, version: release.version, error: oneLine(error) });
    }
  }
  summary.metadata = await writeMetadata(options.repoDir, await readRepository(options.repoDir));
  if (options.signingKey) summary.signed = await signRepository(ctx, options.repoDir, options.signingKey);
  else if (summary.metadata.changed.length > 0 && options.verify) {
    ctx.log.warn('metadata changed and is unsigned: run `bake repo sign` before clients with Verify=yes update');
  }
  return summary;
}

/** Builds every arch into a hidden directory and renames it to the tag: a release appears whole or not at all. */
async function publishRelease(options: RepoBuildOptions, release: PlannedBuild): Promise<void> {
  const staging = await mkdtemp(join(options.repoDir, `.building-${release.tag}-`));
  try {
    const sums: SumLine[] = [];
    for (const arch of release.arches) {
      const file = imageFileName({ name: release.name, version: release.version, arch });
      const scratch = join(staging, `.scratch-${arch}`);
      await mkdir(scratch);
      const built = await options.builder({
        name: release.name,
        version: release.version,
        arch,
        outputDir: scratch,
        outputFile: join(scratch, file),
        sysupdate: { bakeryUrl: options.bakeryUrl, verify: options.verify },
      });
      await moveInto(built.image, join(staging, file));
      for (const conf of built.confs) await copyFile(conf, join(staging, basename(conf)));
      sums.push({ sha256: await sha256File(join(staging, file)), file });
      await rm(scratch, { recursive: true, force: true });
    }
    await writeFileAtomic(join(staging, SUMS), formatSums(sums));
    await renameUnlessPublished(staging, join(options.repoDir, release.tag));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function moveInto(source: string, target: string): Promise<void> {
  if (source !== target) await rename(source, target);
  await stat(target); // a builder that reported an image it did not write fails here, by name
}

/** rename(2) onto an existing non-empty directory fails, which is exactly "never replace a published release". */
async function renameUnlessPublished(staging: string, target: string): Promise<void> {
  try {
    await rename(staging, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      throw new BakeError(
        'exists',
        `${basename(target)} was published while it was being built`,
        'it is kept as published; nothing was replaced',
      );
    }
    throw error;
  }
}
