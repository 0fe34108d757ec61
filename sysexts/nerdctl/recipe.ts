/**
 * nerdctl, the containerd CLI, checked against the release's SHA256SUMS. With --with-cni <version> the
 * CNI plugins come along and nerdctl.toml points at them; without, nerdctl uses /opt/cni/bin. (The
 * bakery deleted a misspelt tmpfiles path here; this recipe never writes what it would have to delete.)
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';
import { installCniPlugins } from '../_shared/cni.ts';

const recipe: Recipe = {
  name: 'nerdctl',
  description: 'nerdctl, Docker-compatible CLI for containerd',
  versions: { kind: 'github-releases', repo: 'containerd/nerdctl', match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: false,
  verifiesChecksums: true,
  options: [{ name: 'with-cni', value: '<version>', description: 'also ship this CNI plugins release (e.g. v1.6.1)' }],
  async build(api) {
    const goarch = api.names.goarch;
    const base = `containerd/nerdctl/releases/download/${api.version}`;
    const url = api.url('githubUrl', `${base}/nerdctl-${api.version.replace(/^v/, '')}-linux-${goarch}.tar.gz`);
    const tree = await api.extract(await api.fetch(url, { checksumUrl: api.url('githubUrl', `${base}/SHA256SUMS`) }));
    for (const tool of ['nerdctl', 'containerd-rootless.sh', 'containerd-rootless-setuptool.sh']) {
      await api.install(`${tree}/${tool}`, `usr/bin/${tool}`, 0o755);
    }
    const cni = api.options['with-cni'];
    let cniPath = '/opt/cni/bin';
    if (typeof cni === 'string') {
      await installCniPlugins(api, cni, 'usr/libexec/cni');
      cniPath = '/usr/libexec/cni';
    }
    await api.writeFile(
      'usr/share/nerdctl/nerdctl.toml',
      `# Copied to /etc/nerdctl/nerdctl.toml once (tmpfiles); edit that copy.\ncni_path = "${cniPath}"\ncni_netconfpath = "/etc/cni/net.d"\n`,
    );
  },
};

export default recipe;
