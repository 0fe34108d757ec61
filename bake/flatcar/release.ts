/**
 * Which Flatcar release to bake: `stable`/`beta`/`alpha`/`lts` resolve to the channel's newest version in
 * releases.json; an exact `MMMM.m.p` takes its channel from releases.json, and only when it is absent
 * there from its minor digit. The choice is pure (pickRelease); resolveRelease adds the one download.
 */
import semver from 'semver';
import type { Context } from '../context.ts';
import { ARCHES, type Arch } from '../core/arch.ts';
import { endpointHint } from '../core/endpoints.ts';
import { BakeError, inputError, isBakeError, usageError } from '../core/errors.ts';
import { CHANNELS, type Channel, channelOfMinor, isChannel } from './channels.ts';
import { VERSION_TXT } from './release-files.ts';

const VERSION_PATTERN = /^\d+\.\d+\.\d+$/;

export type ReleaseRequest = { channel: Channel } | { version: string };

export interface ReleaseEntry {
  channel: string;
  architectures?: string[];
  release_date?: string;
}
export type ReleasesJson = Record<string, ReleaseEntry>;

export interface ResolvedRelease {
  version: string;
  channel: Channel;
  arch: Arch;
  board: string;
  /** The release directory, e.g. https://stable.release.flatcar-linux.net/amd64-usr/4593.2.5 */
  baseUrl: string;
}

export function parseReleaseRequest(value: string): ReleaseRequest {
  if (isChannel(value)) return { channel: value };
  if (VERSION_PATTERN.test(value)) return { version: value };
  throw usageError(
    `'${value}' is neither a channel nor a version`,
    `use ${CHANNELS.join('|')} or MMMM.m.p, e.g. 4593.2.5`,
  );
}

function hasArch(entry: ReleaseEntry, arch: Arch): boolean {
  return entry.architectures === undefined || entry.architectures.includes(ARCHES[arch].goarch);
}

/** Chooses version and channel from releases.json; pure, so every rule is unit-tested. */
export function pickRelease(
  releases: ReleasesJson,
  request: ReleaseRequest,
  arch: Arch,
): { version: string; channel: Channel } {
  if ('channel' in request) {
    const versions = Object.entries(releases)
      .filter(([key, entry]) => VERSION_PATTERN.test(key) && entry.channel === request.channel && hasArch(entry, arch))
      .map(([key]) => key)
      .sort(semver.rcompare);
    const newest = versions[0];
    if (!newest)
      throw inputError(
        `releases.json lists no ${request.channel} release for ${arch}`,
        'check --releases-json or pick another channel',
      );
    return { version: newest, channel: request.channel };
  }
  const entry = releases[request.version];
  if (entry) {
    if (!isChannel(entry.channel))
      throw inputError(
        `release ${request.version} is on channel '${entry.channel}', which bake cannot fetch`,
        `use one of ${CHANNELS.join(', ')}`,
      );
    if (!hasArch(entry, arch))
      throw inputError(
        `release ${request.version} has no ${arch} build`,
        `available: ${entry.architectures?.join(', ')}`,
      );
    return { version: request.version, channel: entry.channel };
  }
  const channel = channelOfMinor(request.version);
  if (!channel)
    throw inputError(
      `release ${request.version} is not in releases.json and its minor number names no channel`,
      'check the version',
    );
  return { version: request.version, channel };
}

export function releaseBaseUrl(template: string, values: { channel: string; board: string; version: string }): string {
  return template
    .replaceAll('{channel}', values.channel)
    .replaceAll('{board}', values.board)
    .replaceAll('{version}', values.version)
    .replace(/\/+$/, '');
}

export async function resolveRelease(ctx: Context, request: ReleaseRequest, arch: Arch): Promise<ResolvedRelease> {
  const releases = await fetchReleases(ctx);
  const { version, channel } = pickRelease(releases, request, arch);
  const board = ARCHES[arch].board;
  const baseUrl = releaseBaseUrl(ctx.endpoints.releaseUrl, { channel, board, version });
  if (!Object.hasOwn(releases, version)) await requirePublished(ctx, version, baseUrl);
  return { version, channel, arch, board, baseUrl };
}

async function fetchReleases(ctx: Context): Promise<ReleasesJson> {
  const url = ctx.endpoints.releasesJson;
  const releases = await ctx.http.getJson<ReleasesJson>(url).catch((error: unknown) => {
    throw isBakeError(error) && error.kind === 'network'
      ? new BakeError(
          'network',
          error.message,
          `check the network, or point bake at a mirror with ${endpointHint('releasesJson')}`,
          error.reason,
          error.url,
        )
      : error;
  });
  if (typeof releases !== 'object' || releases === null || Array.isArray(releases)) {
    throw inputError(`${url} is not a releases.json object`, `check ${endpointHint('releasesJson')}`);
  }
  return releases;
}

/**
 * A version releases.json does not list is taken only when its release directory exists (a mirror may
 * carry releases its releases.json does not know): a typo is "not a known release", not a failed download.
 */
async function requirePublished(ctx: Context, version: string, baseUrl: string): Promise<void> {
  const versionTxt = `${baseUrl}/${VERSION_TXT}`;
  if (await ctx.http.exists(versionTxt)) return;
  throw inputError(
    `${version} is not a known release: releases.json does not list it and ${versionTxt} does not exist`,
    `check the version (a channel name picks its newest release), ${endpointHint('releasesJson')} or ${endpointHint('releaseUrl')}`,
  );
}
