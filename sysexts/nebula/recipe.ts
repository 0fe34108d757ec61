/** Nebula overlay networking: nebula and nebula-cert, checked against the release's SHASUM256.txt, upheld once configured. */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const recipe: Recipe = {
  name: 'nebula',
  description: 'Nebula scalable overlay network',
  versions: { kind: 'github-releases', repo: 'slackhq/nebula', match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: true,
  async build(api) {
    const base = `slackhq/nebula/releases/download/${api.version}`;
    const url = api.url('githubUrl', `${base}/nebula-linux-${api.names.goarch}.tar.gz`);
    const tree = await api.extract(
      await api.fetch(url, { checksumUrl: api.url('githubUrl', `${base}/SHASUM256.txt`) }),
    );
    for (const tool of ['nebula', 'nebula-cert']) await api.install(`${tree}/${tool}`, `usr/bin/${tool}`, 0o755);
  },
};

export default recipe;
