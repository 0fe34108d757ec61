/**
 * Recipes that compile upstream's source: the release's source archive unpacked, then the recipe's
 * `build.sh` run in a build container (`--build-image`, else the official image for the arch), which
 * leaves what it installs under /out.
 */
import type { BuildApi, RecipeOption } from '../../bake/sysext/recipe.ts';

/** Per-arch build images by Go arch name. */
export type BuildImages = Readonly<Record<'amd64' | 'arm64', string>>;

/** Per-arch official images, so an arm64 build needs binfmt but no --platform support in the runtime. */
export const ALPINE_IMAGES: BuildImages = {
  amd64: 'docker.io/amd64/alpine:3.21',
  arm64: 'docker.io/arm64v8/alpine:3.21',
};
export const GOLANG_IMAGES: BuildImages = {
  amd64: 'docker.io/amd64/golang:1.23-bookworm',
  arm64: 'docker.io/arm64v8/golang:1.23-bookworm',
};

/** The `--build-image` option; `defaults` names the images used without it. */
export function buildImageOption(defaults: string): RecipeOption {
  return { name: 'build-image', value: '<image>', description: `container image to build in (default: ${defaults})` };
}

/** A tag's source archive from a forge that publishes no checksum for it, unpacked; returns the tree. */
export async function unpackTagArchive(api: BuildApi, url: string, forge: 'GitHub' | 'GitLab'): Promise<string> {
  const archive = await api.fetch(url, { unverified: `${forge} source archives have no published checksum` });
  return api.extract(archive, { strip: 1 });
}

/** Runs the recipe's build.sh on `source` in its build image, with VERSION set; returns the /out tree. */
export function buildInImage(api: BuildApi, source: string, images: BuildImages): Promise<string> {
  const image = String(api.options['build-image'] ?? images[api.names.goarch]);
  return api.buildInContainer({ image, script: 'build.sh', source, env: { VERSION: api.version } });
}
