/**
 * What a repository build will do, decided before anything is built: expand `latest` through the
 * upstream (network), then compare with what is published (pure). `bake repo build --dry-run` and
 * `bake repo outdated` print this plan; one upstream that cannot be asked does not stop the others.
 */
import type { Arch } from '../core/arch.ts';
import { oneLine } from '../core/errors.ts';
import type { PublishedRelease } from './layout.ts';
import { checkNameAndVersion, releaseTag } from './names.ts';
import type { BuildListEntry } from './versions-file.ts';

/** Where `latest` comes from: the extension catalogue's version lister in the product, a stub in tests. */
export interface Upstream {
  /** The versions `<name> latest` stands for (several for k8s-style recipes, newest first). */
  latestVersions(name: string): Promise<string[]>;
}

export interface WantedRelease {
  name: string;
  version: string;
  /** The build-list line that asked for it, for messages. */
  line: number;
}

export interface Failure {
  name: string;
  version?: string;
  error: string;
}

export interface Resolution {
  wanted: WantedRelease[];
  failed: Failure[];
}

/** Expands every `latest`; an upstream that fails is recorded and the next entry is asked anyway. */
export async function resolveBuildList(entries: readonly BuildListEntry[], upstream: Upstream): Promise<Resolution> {
  const wanted = new Map<string, WantedRelease>();
  const failed: Failure[] = [];
  for (const entry of entries) {
    try {
      const versions = entry.version === 'latest' ? await upstream.latestVersions(entry.name) : [entry.version];
      if (versions.length === 0) throw new Error(`upstream lists no versions for ${entry.name}`);
      for (const version of versions) {
        checkNameAndVersion(entry.name, version);
        const tag = releaseTag(entry.name, version);
        if (!wanted.has(tag)) wanted.set(tag, { name: entry.name, version, line: entry.line });
      }
    } catch (error) {
      failed.push({
        name: entry.name,
        ...(entry.version === 'latest' ? {} : { version: entry.version }),
        error: oneLine(error),
      });
    }
  }
  return { wanted: [...wanted.values()], failed };
}

export interface PlannedBuild {
  name: string;
  version: string;
  tag: string;
  arches: Arch[];
}

export interface Skipped {
  name: string;
  version: string;
  reason: string;
}

export interface BuildPlan {
  build: PlannedBuild[];
  skip: Skipped[];
}

/** Builds every wanted release that is not published; a published release is never rebuilt, even partially. */
export function planBuilds(
  wanted: readonly WantedRelease[],
  published: readonly PublishedRelease[],
  arches: readonly Arch[],
): BuildPlan {
  const byTag = new Map(published.map((release) => [release.tag, release]));
  const plan: BuildPlan = { build: [], skip: [] };
  for (const { name, version } of wanted) {
    const tag = releaseTag(name, version);
    const existing = byTag.get(tag);
    if (!existing) {
      plan.build.push({ name, version, tag, arches: [...arches] });
      continue;
    }
    const missing = arches.filter((arch) => !existing.arches.includes(arch));
    const reason = missing.length === 0 ? 'published' : `published without ${missing.join(', ')} (never rebuilt)`;
    plan.skip.push({ name, version, reason });
  }
  return plan;
}

/** The plan as lines for humans (--dry-run, outdated). */
export function describePlan(plan: BuildPlan, failed: readonly Failure[]): string[] {
  return [
    ...plan.build.map((b) => `build  ${b.tag} (${b.arches.join(', ')})`),
    ...plan.skip.map((s) => `skip   ${releaseTag(s.name, s.version)}: ${s.reason}`),
    ...failed.map((f) => `failed ${f.version ? releaseTag(f.name, f.version) : f.name}: ${f.error}`),
  ];
}
