/**
 * RKE2 from its release tarball, unpacked into /usr/local as the upstream installer does: its units in
 * usr/local/lib/systemd/system start /usr/local/bin/rke2. Like k3s, the user enables server or agent.
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';
import { fetchWithArchSums } from '../_shared/github-release.ts';

const recipe: Recipe = {
  name: 'rke2',
  description: 'RKE2, Rancher Kubernetes distribution',
  versions: { kind: 'github-releases', repo: 'rancher/rke2', match: /^v\d+\.\d+\.\d+\+rke2r\d+$/ },
  latest: { kind: 'newest-patch-per-minor', minors: 3 },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: true,
  patchLevelSysupdate: true,
  async build(api) {
    const tree = await api.extract(
      await fetchWithArchSums(api, 'rancher/rke2', `rke2.linux-${api.names.goarch}.tar.gz`),
    );
    await api.installTree(tree, 'usr/local');
  },
};

export default recipe;
