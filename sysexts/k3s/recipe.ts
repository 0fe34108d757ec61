/**
 * k3s as the single upstream binary in /usr/local/bin (where k3s and its docs expect it), with the
 * kubectl/crictl/ctr multi-call links. Units are not upheld: a node is a server or an agent, so the user
 * enables one of them.
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';
import { fetchWithArchSums } from '../_shared/github-release.ts';

const recipe: Recipe = {
  name: 'k3s',
  description: 'k3s lightweight Kubernetes',
  versions: { kind: 'github-releases', repo: 'k3s-io/k3s', match: /^v\d+\.\d+\.\d+\+k3s\d+$/ },
  latest: { kind: 'newest-patch-per-minor', minors: 3 },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: true,
  patchLevelSysupdate: true,
  async build(api) {
    const goarch = api.names.goarch;
    const binary = await fetchWithArchSums(api, 'k3s-io/k3s', goarch === 'amd64' ? 'k3s' : `k3s-${goarch}`);
    await api.install(binary, 'usr/local/bin/k3s', 0o755);
    for (const link of ['kubectl', 'crictl', 'ctr']) await api.symlink('k3s', `usr/local/bin/${link}`);
  },
};

export default recipe;
