/**
 * GitHub release assets checked against the per-arch checksum list the release publishes beside them
 * (`sha256sum-<goarch>.txt`), as the Rancher projects (k3s, rke2) do.
 */
import type { BuildApi } from '../../bake/sysext/recipe.ts';

/** Downloads `asset` of `repo`'s release `api.version`, verified by the release's sha256sum-<goarch>.txt. */
export function fetchWithArchSums(api: BuildApi, repo: string, asset: string): Promise<string> {
  const base = `${repo}/releases/download/${encodeURIComponent(api.version)}`;
  return api.fetch(api.url('githubUrl', `${base}/${asset}`), {
    checksumUrl: api.url('githubUrl', `${base}/sha256sum-${api.names.goarch}.txt`),
  });
}
