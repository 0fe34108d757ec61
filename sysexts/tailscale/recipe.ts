/**
 * Tailscale from pkgs.tailscale.com, checked against its .sha256. We ship our own unit (upstream's starts
 * /usr/sbin/tailscaled, a path Flatcar sysexts must not use) and keep upstream's defaults file.
 */
import type { RecipeEndpoint } from '../../bake/core/endpoints.ts';
import type { Recipe } from '../../bake/sysext/recipe.ts';

const TAILSCALE_DOWNLOAD: RecipeEndpoint = {
  name: 'tailscaleDownloadUrl',
  flag: '--tailscale-download-url',
  env: 'BAKE_TAILSCALE_DOWNLOAD_URL',
  default: 'https://pkgs.tailscale.com',
  description: 'Tailscale packages',
};

const recipe: Recipe = {
  name: 'tailscale',
  description: 'Tailscale WireGuard mesh VPN',
  versions: { kind: 'github-releases', repo: 'tailscale/tailscale', match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: true,
  endpoints: [TAILSCALE_DOWNLOAD],
  async build(api) {
    const url = api.url(
      TAILSCALE_DOWNLOAD,
      `stable/tailscale_${api.version.replace(/^v/, '')}_${api.names.goarch}.tgz`,
    );
    const tree = await api.extract(await api.fetch(url, { checksumUrl: `${url}.sha256` }), { strip: 1 });
    for (const tool of ['tailscale', 'tailscaled']) await api.install(`${tree}/${tool}`, `usr/bin/${tool}`, 0o755);
    await api.install(`${tree}/systemd/tailscaled.defaults`, 'usr/share/tailscale/tailscaled.defaults', 0o644);
  },
};

export default recipe;
