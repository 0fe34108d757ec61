/**
 * `bake repo list`: what a repository offers, read from its global SHA256SUMS (remote or local), and
 * `name@version` resolved against it to an image URL and its checksum (for `bake --fetch`/`bake butane`).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import type { Arch } from '../core/arch.ts';
import { parseSums } from '../core/checksums.ts';
import { inputError } from '../core/errors.ts';
import { compareVersions } from '../core/version-order.ts';
import { SUMS } from './layout.ts';
import { imageFileName, parseImageFileName } from './names.ts';

export interface CatalogImage {
  version: string;
  arch: Arch;
  file: string;
  sha256: string;
}

export interface CatalogExtension {
  name: string;
  /** Newest first. */
  versions: string[];
  arches: Arch[];
  images: CatalogImage[];
}

export interface Catalog {
  source: string;
  extensions: CatalogExtension[];
}

const isUrl = (source: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(source);

/** Builds the catalogue from SHA256SUMS text; lines that are not extension images (confs, logs) are ignored. */
export function catalogFromSums(source: string, text: string): Catalog {
  const byName = new Map<string, CatalogImage[]>();
  for (const line of parseSums(text, `${source} ${SUMS}`)) {
    const image = parseImageFileName(line.file);
    if (!image) continue;
    const images = byName.get(image.name) ?? [];
    images.push({ version: image.version, arch: image.arch, file: line.file, sha256: line.sha256 });
    byName.set(image.name, images);
  }
  const extensions = [...byName.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, images]) => ({
      name,
      versions: [...new Set(images.map((image) => image.version))].sort((a, b) => compareVersions(b, a)),
      arches: [...new Set(images.map((image) => image.arch))].sort(),
      images,
    }));
  return { source, extensions };
}

/** A repository base URL (`https://extensions.flatcar.org/extensions`) or a local repository directory. */
export async function loadCatalog(ctx: Context, source: string): Promise<Catalog> {
  const text = isUrl(source)
    ? await ctx.http.getText(`${source.replace(/\/+$/, '')}/${SUMS}`)
    : await readFile(join(source, SUMS), 'utf8').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT')
          throw inputError(
            `${source} has no ${SUMS}`,
            'give a repository directory or URL (run `bake repo build` to create one)',
          );
        throw error;
      });
  return catalogFromSums(source, text);
}

export interface ResolvedImage {
  name: string;
  version: string;
  arch: Arch;
  url: string;
  sha256: string;
}

/**
 * `docker@27.3.1` (or `docker` for the newest) → the image URL under the repository's per-extension
 * directory, which the bakery's redirect and `bake repo serve` both answer.
 */
export function resolveImage(catalog: Catalog, spec: string, arch: Arch, baseUrl = catalog.source): ResolvedImage {
  const [name, wanted] = spec.split('@', 2) as [string, string | undefined];
  const extension = catalog.extensions.find((candidate) => candidate.name === name);
  if (!extension) throw inputError(`${name} is not in ${catalog.source}`, 'see `bake repo list` for what it offers');
  const forArch = extension.images.filter((image) => image.arch === arch);
  const version = wanted ?? extension.versions.find((v) => forArch.some((image) => image.version === v));
  const image = forArch.find((candidate) => candidate.version === version);
  if (!image || !version) {
    const offered = [...new Set(forArch.map((i) => i.version))].join(', ') || 'none';
    throw inputError(
      `${name}@${wanted ?? 'newest'} for ${arch} is not in ${catalog.source}`,
      `versions for ${arch}: ${offered}`,
    );
  }
  const file = imageFileName({ name, version, arch });
  return { name, version, arch, url: `${baseUrl.replace(/\/+$/, '')}/${name}/${file}`, sha256: image.sha256 };
}
