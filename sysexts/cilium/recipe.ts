/**
 * The Cilium CLI, checked against the tarball's .sha256sum, with a cilium.service that installs Cilium
 * into the node's cluster once per boot when enabled (the bakery's unit re-ran the install forever).
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const recipe: Recipe = {
  name: 'cilium',
  description: 'Cilium CLI (installs and manages Cilium in a Kubernetes cluster)',
  versions: { kind: 'github-releases', repo: 'cilium/cilium-cli', match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  // The unit is not upheld but must be known to systemd right after the merge, for `systemctl enable`.
  reload: true,
  verifiesChecksums: true,
  async build(api) {
    const url = api.url(
      'githubUrl',
      `cilium/cilium-cli/releases/download/${api.version}/cilium-linux-${api.names.goarch}.tar.gz`,
    );
    const tree = await api.extract(await api.fetch(url, { checksumUrl: `${url}.sha256sum` }));
    await api.install(`${tree}/cilium`, 'usr/bin/cilium', 0o755);
  },
};

export default recipe;
