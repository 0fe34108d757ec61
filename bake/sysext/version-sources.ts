/**
 * Fetching and parsing upstream version lists, one function per source kind. Parsers are pure (tested on
 * recorded responses in test/fixtures/recorded); fetchers page through APIs and send GH_TOKEN to the
 * GitHub API when it is set (60 requests an hour without it).
 */
import { parse as parseYaml } from 'yaml';
import type { Context } from '../context.ts';
import { httpTuning } from '../context.ts';
import { tempDir } from '../core/cleanup.ts';
import { endpointValue } from '../core/endpoints.ts';
import { inputError } from '../core/errors.ts';
import { compareVersions } from '../core/version-order.ts';
import { createHttp, type HttpClient } from '../net/http.ts';
import { indexedVersion } from './package-source.ts';
import type { VersionSource } from './recipe.ts';

const GITHUB_PAGE_SIZE = 100;
const HASHICORP_PAGE_SIZE = 20;
/** A runaway pager (a server ignoring `page`) must end; 30 pages of 100 is more than any upstream has. */
const MAX_PAGES = 30;

interface GithubRelease {
  tag_name: string;
  prerelease: boolean;
  draft: boolean;
}
interface NamedTag {
  name: string;
}
interface HashicorpRelease {
  version: string;
  is_prerelease: boolean;
  license_class?: string;
  timestamp_created: string;
}

export function parseGithubReleases(body: unknown): string[] {
  return asArray<GithubRelease>(body, 'GitHub releases')
    .filter((r) => !r.prerelease && !r.draft)
    .map((r) => r.tag_name);
}

export function parseTagNames(body: unknown): string[] {
  return asArray<NamedTag>(body, 'tag list').map((tag) => tag.name);
}

export function parseHashicorpReleases(body: unknown): string[] {
  return asArray<HashicorpRelease>(body, 'HashiCorp releases')
    .filter((r) => !r.is_prerelease && (r.license_class ?? 'oss') === 'oss' && /^[0-9.]+$/.test(r.version))
    .map((r) => r.version);
}

/** kubernetes/website schedule.yaml: every released patch of every minor still listed (i.e. supported). */
export function parseKubernetesSchedule(text: string): string[] {
  const doc = parseYaml(text) as { schedules?: Array<{ previousPatches?: Array<{ release?: string }> }> } | null;
  const schedules = doc?.schedules;
  if (!Array.isArray(schedules))
    throw inputError('Kubernetes release schedule has no `schedules` list', 'check the schedule URL');
  return schedules.flatMap((s) => (s.previousPatches ?? []).map((p) => `v${String(p.release)}`));
}

/** Capture group 1 of `pattern` on every href in an HTML directory listing, without duplicates. */
export function parseHtmlListing(html: string, pattern: RegExp): string[] {
  const found = new Set<string>();
  for (const match of html.matchAll(/href="([^"]+)"/g)) {
    const lastSegment = decodeURIComponent(match[1]!).split('/').filter(Boolean).at(-1) ?? '';
    const version = pattern.exec(lastSegment)?.[1];
    if (version) found.add(version);
  }
  return [...found];
}

function asArray<T>(body: unknown, what: string): T[] {
  if (!Array.isArray(body)) throw inputError(`unexpected ${what} response: not a list`, 'check the endpoint URL');
  return body as T[];
}

/** Raw version strings from a source, unfiltered and unsorted. */
export async function fetchSourceVersions(ctx: Context, source: VersionSource): Promise<string[]> {
  const endpoints = ctx.endpoints;
  switch (source.kind) {
    case 'github-releases':
      return pageThrough(
        githubHttp(ctx),
        `${endpoints.githubApiUrl}/repos/${source.repo}/releases`,
        GITHUB_PAGE_SIZE,
        parseGithubReleases,
      );
    case 'github-tags':
      return pageThrough(
        githubHttp(ctx),
        `${endpoints.githubApiUrl}/repos/${source.repo}/tags`,
        GITHUB_PAGE_SIZE,
        parseTagNames,
      );
    case 'gitlab-tags':
      return pageThrough(
        ctx.http,
        `${endpointValue(endpoints, source.endpoint ?? 'gitlabUrl')}/api/v4/projects/${source.project}/repository/tags`,
        GITHUB_PAGE_SIZE,
        parseTagNames,
      );
    case 'html-listing':
      return parseHtmlListing(
        await ctx.http.getText(`${endpointValue(endpoints, source.endpoint)}${source.path}`),
        source.pattern,
      );
    case 'html-branch-listings':
      return branchListings(ctx.http, endpointValue(endpoints, source.endpoint), source);
    case 'hashicorp':
      return hashicorpVersions(ctx.http, `${endpointValue(endpoints, source.endpoint)}/v1/releases/${source.product}`);
    case 'kubernetes-schedule':
      return parseKubernetesSchedule(await ctx.http.getText(endpointValue(endpoints, source.endpoint)));
    case 'package-index': {
      await using scratch = await tempDir('bake-index');
      return await indexedVersion(ctx, source.repository, source.package, scratch.path);
    }
  }
}

/** Every supported branch's listing, read concurrently (a handful of small pages). */
async function branchListings(
  http: HttpClient,
  base: string,
  source: Extract<VersionSource, { kind: 'html-branch-listings' }>,
): Promise<string[]> {
  const branches = parseHtmlListing(await http.getText(`${base}${source.path}`), source.branch).filter(
    (b) => compareVersions(b, source.minimumBranch) >= 0,
  );
  const pages = await Promise.all(
    branches.map((branch) => http.getText(`${base}${source.branchPath.replace('{branch}', branch)}`)),
  );
  return pages.flatMap((page) => parseHtmlListing(page, source.pattern));
}

/** `?per_page=N&page=P` until a short page: GitHub and GitLab both page this way. */
async function pageThrough(
  http: HttpClient,
  base: string,
  pageSize: number,
  parse: (body: unknown) => string[],
): Promise<string[]> {
  const all: string[] = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const body = await http.getJson<unknown>(`${base}?per_page=${pageSize}&page=${page}`);
    const count = Array.isArray(body) ? body.length : 0;
    all.push(...parse(body));
    if (count < pageSize) break;
  }
  return all;
}

/** The HashiCorp API pages backwards in time: `after=<timestamp_created of the last entry>`. */
async function hashicorpVersions(http: HttpClient, base: string): Promise<string[]> {
  const all: string[] = [];
  let after: string | undefined;
  for (let page = 1; page <= MAX_PAGES; page++) {
    const query = after ? `&after=${encodeURIComponent(after)}` : '';
    const body = await http.getJson<HashicorpRelease[]>(`${base}?limit=${HASHICORP_PAGE_SIZE}${query}`);
    all.push(...parseHashicorpReleases(body));
    if (!Array.isArray(body) || body.length < HASHICORP_PAGE_SIZE) break;
    after = body.at(-1)!.timestamp_created;
  }
  return all;
}

const githubClients = new WeakMap<Context, HttpClient>();

/** The context's client, or with GH_TOKEN set one that adds the token for the GitHub API host only. */
export function githubHttp(ctx: Context): HttpClient {
  const token = process.env.GH_TOKEN || process.env.GITHUB_TOKEN;
  if (!token) return ctx.http;
  const apiOrigin = new URL(ctx.endpoints.githubApiUrl).origin;
  let client = githubClients.get(ctx);
  if (!client) {
    client = createHttp({
      ...httpTuning(process.env),
      log: ctx.log,
      signal: ctx.signal,
      headers: (url): Record<string, string> =>
        new URL(url).origin === apiOrigin ? { authorization: `Bearer ${token}` } : {},
    });
    githubClients.set(ctx, client);
  }
  return client;
}
