/**
 * Falco runtime security with the modern eBPF probe (no kernel module to build on Flatcar). Its /etc
 * defaults ship read-only under usr/share/falco/etc and are copied to /etc once by tmpfiles.
 */
import type { RecipeEndpoint } from '../../bake/core/endpoints.ts';
import type { Recipe } from '../../bake/sysext/recipe.ts';

const FALCO_DOWNLOAD: RecipeEndpoint = {
  name: 'falcoDownloadUrl',
  flag: '--falco-download-url',
  env: 'BAKE_FALCO_DOWNLOAD_URL',
  default: 'https://download.falco.org',
  description: 'Falco packages',
};

const recipe: Recipe = {
  name: 'falco',
  description: 'Falco runtime security (modern eBPF)',
  versions: { kind: 'github-releases', repo: 'falcosecurity/falco', match: /^\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: false,
  endpoints: [FALCO_DOWNLOAD],
  async build(api) {
    const machine = api.names.machine;
    const url = api.url(FALCO_DOWNLOAD, `packages/bin/${machine}/falco-${api.version}-${machine}.tar.gz`);
    const tree = await api.extract(
      await api.fetch(url, { unverified: 'download.falco.org signs packages but publishes no checksum file' }),
      { strip: 1 },
    );
    await api.installTree(`${tree}/usr`, 'usr');
    await api.installTree(`${tree}/etc`, 'usr/share/falco/etc');
  },
};

export default recipe;
