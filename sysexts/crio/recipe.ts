/** CRI-O from its release bundle; the bundled crun/runc stay private to CRI-O (see files/usr/share/crio). */
import type { RecipeEndpoint } from '../../bake/core/endpoints.ts';
import type { Recipe } from '../../bake/sysext/recipe.ts';

const TOOLS = ['crio', 'pinns', 'crictl', 'conmon', 'conmonrs'];
const OCI_RUNTIMES = ['crun', 'runc'];

const CRIO_DOWNLOAD: RecipeEndpoint = {
  name: 'crioDownloadUrl',
  flag: '--crio-download-url',
  env: 'BAKE_CRIO_DOWNLOAD_URL',
  default: 'https://storage.googleapis.com/cri-o',
  description: 'CRI-O release bundles',
};

const recipe: Recipe = {
  name: 'crio',
  description: 'CRI-O, the Kubernetes container runtime',
  versions: { kind: 'github-releases', repo: 'cri-o/cri-o', match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: true,
  endpoints: [CRIO_DOWNLOAD],
  async build(api) {
    const url = api.url(CRIO_DOWNLOAD, `artifacts/cri-o.${api.names.goarch}.${api.version}.tar.gz`);
    const bundle = await api.extract(await api.fetch(url, { checksumUrl: `${url}.sha256sum` }), { strip: 1 });
    for (const tool of TOOLS) await api.install(`${bundle}/bin/${tool}`, `usr/bin/${tool}`, 0o755);
    // Not on PATH: Flatcar's own runc must keep serving docker/containerd.
    for (const runtime of OCI_RUNTIMES)
      await api.install(`${bundle}/bin/${runtime}`, `usr/libexec/crio/${runtime}`, 0o755);
  },
};

export default recipe;
