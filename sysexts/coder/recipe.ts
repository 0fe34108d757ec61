/**
 * Coder server and workspace proxy, checked against the release's checksums file. Both units wait for
 * their env file in /etc/coder.d (created empty, root-only, by tmpfiles) and run as the coder user.
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const recipe: Recipe = {
  name: 'coder',
  description: 'Coder self-hosted developer workspaces',
  versions: { kind: 'github-releases', repo: 'coder/coder', match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: true,
  async build(api) {
    const bare = api.version.replace(/^v/, '');
    const base = `coder/coder/releases/download/${api.version}`;
    const url = api.url('githubUrl', `${base}/coder_${bare}_linux_${api.names.goarch}.tar.gz`);
    const tree = await api.extract(
      await api.fetch(url, { checksumUrl: api.url('githubUrl', `${base}/coder_${bare}_checksums.txt`) }),
    );
    await api.install(`${tree}/coder`, 'usr/bin/coder', 0o755);
  },
};

export default recipe;
