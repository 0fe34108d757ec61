/**
 * The bakery's public naming contract (docs/flatcar-facts.md §6), in one place: release tags
 * `<name>-<version>` and images `<name>-<version>-<arch>.raw`.
 * Clients and the extensions.flatcar.org redirect split a file name at its last `-` before the arch, so a
 * version must not contain `-` and neither part may contain `/` or whitespace.
 */
import { ARCHES, type Arch } from '../core/arch.ts';
import { inputError } from '../core/errors.ts';

export interface ImageName {
  name: string;
  version: string;
  arch: Arch;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+~]*$/;

export function releaseTag(name: string, version: string): string {
  return `${name}-${version}`;
}

export function imageFileName(image: ImageName): string {
  return `${releaseTag(image.name, image.version)}-${image.arch}.raw`;
}

/** Throws a one-line input error when the pair cannot round-trip through the bakery's file names. */
export function checkNameAndVersion(name: string, version: string): void {
  if (!NAME_PATTERN.test(name)) throw inputError(`invalid extension name '${name}'`, 'use letters, digits, . _ + -');
  if (!VERSION_PATTERN.test(version)) {
    throw inputError(
      `invalid version '${version}' for ${name}`,
      "versions may not contain '-', '/' or spaces: the file name <name>-<version>-<arch>.raw must split unambiguously",
    );
  }
}

/** `docker-27.3.1-x86-64.raw` → { name: docker, version: 27.3.1, arch: x86-64 }; undefined for other files. */
export function parseImageFileName(file: string): ImageName | undefined {
  for (const arch of Object.keys(ARCHES) as Arch[]) {
    const suffix = `-${arch}.raw`;
    if (!file.endsWith(suffix)) continue;
    const tag = file.slice(0, -suffix.length);
    const split = tag.lastIndexOf('-');
    if (split <= 0 || split === tag.length - 1) return undefined;
    const name = tag.slice(0, split);
    const version = tag.slice(split + 1);
    return NAME_PATTERN.test(name) && VERSION_PATTERN.test(version) ? { name, version, arch } : undefined;
  }
  return undefined;
}

/** `docker-27.3.1` → { name: docker, version: 27.3.1 }, the inverse of releaseTag. */
export function parseReleaseTag(tag: string): { name: string; version: string } | undefined {
  const split = tag.lastIndexOf('-');
  if (split <= 0 || split === tag.length - 1) return undefined;
  const name = tag.slice(0, split);
  const version = tag.slice(split + 1);
  return NAME_PATTERN.test(name) && VERSION_PATTERN.test(version) ? { name, version } : undefined;
}
