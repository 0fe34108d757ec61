/**
 * RKE2 from its release tarball, unpacked into /usr/local as the upstream installer does: its units in
 * usr/local/lib/systemd/system start /usr/local/bin/rke2. Like k3s, the user enables server or agent.
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';

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
    const goarch = api.names.goarch;
    const base = `rancher/rke2/releases/download/${encodeURIComponent(api.version)}`;
    const url = api.url('githubUrl', `${base}/rke2.linux-${goarch}.tar.gz`);
    const tree = await api.extract(await api.fetch(url, { checksumUrl: api.url('githubUrl', `${base}/sha256sum-${goarch}.txt`) }));
    await api.installTree(tree, 'usr/local');
  },
};

export default recipe;
