/** Ollama with its bundled GPU runtimes (usr/lib/ollama); releases since v0.14.0 ship .tar.zst. */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const recipe: Recipe = {
  name: 'ollama',
  description: 'Ollama, run large language models locally',
  versions: { kind: 'github-releases', repo: 'ollama/ollama', match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: true,
  async build(api) {
    const suffix = api.compareVersions(api.version, 'v0.14.0') >= 0 ? 'tar.zst' : 'tgz';
    const base = `ollama/ollama/releases/download/${api.version}`;
    const url = api.url('githubUrl', `${base}/ollama-linux-${api.names.goarch}.${suffix}`);
    const tree = await api.extract(
      await api.fetch(url, { checksumUrl: api.url('githubUrl', `${base}/sha256sum.txt`) }),
    );
    await api.install(`${tree}/bin/ollama`, 'usr/bin/ollama', 0o755);
    if (await api.exists(`${tree}/lib/ollama`)) await api.installTree(`${tree}/lib/ollama`, 'usr/lib/ollama');
  },
};

export default recipe;
