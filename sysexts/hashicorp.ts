/**
 * The HashiCorp release zips (consul, nomad, vault) share one shape: the API lists versions, the zip holds
 * one binary, and each release publishes SHA256SUMS with a detached signature by HashiCorp's release key
 * (the --hashicorp-key endpoint; the bakery checked neither). Not a recipe itself: no folder of its own.
 */
import type { Recipe } from '../bake/sysext/recipe.ts';

export function hashicorpRecipe(product: string, description: string): Recipe {
  return {
    name: product,
    description,
    versions: { kind: 'hashicorp', product },
    arches: ['x86-64', 'arm64'],
    reload: true,
    verifiesChecksums: true,
    async build(api) {
      const base = `${product}/${api.version}/${product}_${api.version}`;
      const sums = api.url('hashicorpDownloadUrl', `${base}_SHA256SUMS`);
      const zip = await api.fetch(api.url('hashicorpDownloadUrl', `${base}_linux_${api.names.goarch}.zip`), {
        checksumUrl: sums,
        signature: { url: `${sums}.sig`, key: 'hashicorpKey' },
      });
      await api.install(`${await api.extract(zip)}/${product}`, `usr/bin/${product}`, 0o755);
    },
  };
}
