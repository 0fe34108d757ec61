/** Docker Buildx as a docker CLI plugin, checked against the release's checksums.txt (which the bakery skipped). */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const recipe: Recipe = {
  name: 'docker-buildx',
  description: 'Docker Buildx CLI plugin',
  versions: { kind: 'github-releases', repo: 'docker/buildx', match: /^v\d+\.\d+\.\d+$/, stripV: true },
  arches: ['x86-64', 'arm64'],
  reload: false,
  verifiesChecksums: true,
  async build(api) {
    const base = `docker/buildx/releases/download/v${api.version}`;
    const url = api.url('githubUrl', `${base}/buildx-v${api.version}.linux-${api.names.goarch}`);
    const binary = await api.fetch(url, { checksumUrl: api.url('githubUrl', `${base}/checksums.txt`) });
    await api.install(binary, 'usr/lib/docker/cli-plugins/docker-buildx', 0o755);
  },
};

export default recipe;
