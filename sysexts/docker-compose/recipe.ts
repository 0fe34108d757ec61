/** Docker Compose v2 as a docker CLI plugin, plus the `docker-compose` command. */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const recipe: Recipe = {
  name: 'docker-compose',
  description: 'Docker Compose CLI plugin',
  versions: { kind: 'github-releases', repo: 'docker/compose', match: /^v2\.\d+\.\d+$/, stripV: true },
  arches: ['x86-64', 'arm64'],
  reload: false,
  verifiesChecksums: true,
  async build(api) {
    const asset = `docker-compose-linux-${api.names.machine}`;
    const url = api.url('githubUrl', `docker/compose/releases/download/v${api.version}/${asset}`);
    const binary = await api.fetch(url, { checksumUrl: `${url}.sha256` });
    await api.install(binary, 'usr/lib/docker/cli-plugins/docker-compose', 0o755);
    await api.symlink('../lib/docker/cli-plugins/docker-compose', 'usr/bin/docker-compose');
  },
};

export default recipe;
