/**
 * The CNI plugins release, shared by the recipes that ship it (kubernetes, nerdctl): the tarball of
 * containernetworking/plugins for the target arch, checked against the `.sha256` published beside it.
 */
import type { BuildApi } from '../../bake/sysext/recipe.ts';

/** The newest CNI plugins release, for recipes whose CNI version option defaults to it. */
export function newestCniVersion(api: BuildApi): Promise<string> {
  return api.newestVersion({ kind: 'github-releases', repo: 'containernetworking/plugins', match: /^v\d+\.\d+\.\d+$/ });
}

/** Installs the plugins of CNI release `version` (e.g. v1.6.1) below `to` in the sysext. */
export async function installCniPlugins(api: BuildApi, version: string, to: string): Promise<void> {
  const url = api.url(
    'githubUrl',
    `containernetworking/plugins/releases/download/${version}/cni-plugins-linux-${api.names.goarch}-${version}.tgz`,
  );
  await api.installTree(await api.extract(await api.fetch(url, { checksumUrl: `${url}.sha256` })), to);
}
