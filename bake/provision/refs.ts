/**
 * The extensions a provisioning config names: `name` (the bakery's newest build), `name@version` (one
 * published build) or `name:file` (a local image the user hosts under the same base URL). Each resolves
 * to the URL the machine downloads and the SHA-256 that Ignition verifies it against.
 */

import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Context } from '../context.ts';
import type { Arch } from '../core/arch.ts';
import { parseSums, type SumLine, sha256File } from '../core/checksums.ts';
import { inputError, notFoundUrl, usageError } from '../core/errors.ts';
import { compareVersions } from '../core/version-order.ts';
import { checkNameAndVersion, imageFileName, parseImageFileName } from '../repo/names.ts';

export type ExtensionRef =
  | { kind: 'latest'; name: string }
  | { kind: 'version'; name: string; version: string }
  | { kind: 'file'; name: string; path: string };

export interface ResolvedExtension {
  name: string;
  /** File name under /opt/extensions/<name>/. */
  file: string;
  url: string;
  sha256: string;
  /** Known when the file follows the bakery's `<name>-<version>-<arch>.raw`; sysupdate needs that. */
  version?: string | undefined;
}

export function parseExtensionRef(text: string): ExtensionRef {
  const colon = text.indexOf(':');
  if (colon > 0) return { kind: 'file', name: text.slice(0, colon), path: text.slice(colon + 1) };
  const at = text.indexOf('@');
  if (at > 0) {
    const ref = { kind: 'version' as const, name: text.slice(0, at), version: text.slice(at + 1) };
    checkNameAndVersion(ref.name, ref.version);
    return ref;
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(text)) {
    throw usageError(`cannot read extension '${text}'`, 'use name, name@version or name:file');
  }
  return { kind: 'latest', name: text };
}

export interface ResolveOptions {
  bakeryUrl: string;
  arch: Arch;
}

export async function resolveExtension(
  ctx: Context,
  ref: ExtensionRef,
  options: ResolveOptions,
): Promise<ResolvedExtension> {
  const base = options.bakeryUrl.replace(/\/+$/, '');
  if (ref.kind === 'file') return resolveLocalFile(ref.name, ref.path, base);
  const sums = await publishedSums(ctx, base, ref.name);
  const file =
    ref.kind === 'version'
      ? imageFileName({ name: ref.name, version: ref.version, arch: options.arch })
      : newestFile(sums, ref.name, options.arch, base);
  const line = sums.find((entry) => entry.file === file);
  if (!line)
    throw inputError(
      `${file} is not listed in ${base}/${ref.name}/SHA256SUMS`,
      `see the published versions with: ${repoListCommand(base)}`,
    );
  return {
    name: ref.name,
    file,
    url: `${base}/${file}`,
    sha256: line.sha256,
    version: parseImageFileName(file)?.version,
  };
}

async function resolveLocalFile(name: string, path: string, base: string): Promise<ResolvedExtension> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile())
    throw inputError(`extension file ${path} does not exist`, `give name:file with an existing .raw image`);
  const file = basename(path);
  const parsed = parseImageFileName(file);
  return {
    name,
    file,
    url: `${base}/${file}`,
    sha256: await sha256File(path),
    ...(parsed?.name === name ? { version: parsed.version } : {}),
  };
}

/** The command that lists what the bakery at `base` publishes: the names and versions a config may use. */
function repoListCommand(base: string): string {
  return `bake repo list ${base}`;
}

/** The per-extension SHA256SUMS lists every published build of one extension (docs/flatcar-facts.md §6). */
async function publishedSums(ctx: Context, base: string, name: string): Promise<SumLine[]> {
  const url = `${base}/${name}/SHA256SUMS`;
  const text = await ctx.http.getText(url).catch((error: unknown) => {
    throw notFoundUrl(error)
      ? inputError(
          `the bakery at ${base} publishes no extension '${name}' (no ${url})`,
          `see what it has with: ${repoListCommand(base)}, or set --bakery-url`,
        )
      : error;
  });
  return parseSums(text, url);
}

function newestFile(sums: SumLine[], name: string, arch: Arch, base: string): string {
  const versions = sums
    .map((line) => parseImageFileName(line.file))
    .filter((image) => image?.name === name && image.arch === arch)
    .map((image) => image!.version)
    .sort(compareVersions);
  const newest = versions.at(-1);
  if (!newest)
    throw inputError(
      `no ${arch} build of ${name} is published at ${base}`,
      `see the published builds with: ${repoListCommand(base)}`,
    );
  return imageFileName({ name, version: newest, arch });
}
