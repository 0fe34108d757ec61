/**
 * The HashiCorp release zips (consul, nomad, vault) share one shape: the API lists versions, the zip holds
 * one binary, and each release publishes SHA256SUMS with a detached signature by HashiCorp's release key
 * (the --hashicorp-key endpoint; the bakery checked neither). Not a recipe itself: no folder of its own.
 */
import type { RecipeEndpoint } from '../bake/core/endpoints.ts';
import type { Recipe } from '../bake/sysext/recipe.ts';

export const HASHICORP_API: RecipeEndpoint = {
  name: 'hashicorpApiUrl',
  flag: '--hashicorp-api-url',
  env: 'BAKE_HASHICORP_API_URL',
  default: 'https://api.releases.hashicorp.com',
  description: 'HashiCorp releases API',
};

const HASHICORP_DOWNLOAD: RecipeEndpoint = {
  name: 'hashicorpDownloadUrl',
  flag: '--hashicorp-download-url',
  env: 'BAKE_HASHICORP_DOWNLOAD_URL',
  default: 'https://releases.hashicorp.com',
  description: 'HashiCorp release zips and their signed SHA256SUMS',
};

/** Pinned while it has its real default: a key at that URL that is not HashiCorp's is refused. */
export const HASHICORP_KEY = {
  name: 'hashicorpKey',
  flag: '--hashicorp-key',
  env: 'BAKE_HASHICORP_KEY',
  default: 'https://www.hashicorp.com/.well-known/pgp-key.txt',
  description: "HashiCorp's release signing key (URL or file); a key you name is trusted as given",
  pinnedKey: { owner: "HashiCorp's release signing key", fingerprint: 'C874011F0AB405110D02105534365D9472D7468F' },
} satisfies RecipeEndpoint;

export function hashicorpRecipe(product: string, description: string): Recipe {
  return {
    name: product,
    description,
    versions: { kind: 'hashicorp', product, endpoint: HASHICORP_API },
    arches: ['x86-64', 'arm64'],
    reload: true,
    verifiesChecksums: true,
    endpoints: [HASHICORP_API, HASHICORP_DOWNLOAD, HASHICORP_KEY],
    async build(api) {
      const base = `${product}/${api.version}/${product}_${api.version}`;
      const sums = api.url(HASHICORP_DOWNLOAD, `${base}_SHA256SUMS`);
      const zip = await api.fetch(api.url(HASHICORP_DOWNLOAD, `${base}_linux_${api.names.goarch}.zip`), {
        checksumUrl: sums,
        signature: { url: `${sums}.sig`, key: HASHICORP_KEY },
      });
      await api.install(`${await api.extract(zip)}/${product}`, `usr/bin/${product}`, 0o755);
    },
  };
}
