/**
 * Kata Containers from the kata-static release tarball: its /opt/kata tree as is (the shim and runtime
 * find their assets there), with the commands linked into /usr/bin. No checksum file is published, so the
 * tarball is checked against the digest GitHub's release API lists for it; releases from before GitHub
 * listed digests are used unverified, with a warning. Tarballs are .tar.zst from 3.21.0 on.
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const REPO = 'kata-containers/kata-containers';
const COMMANDS = ['kata-runtime', 'containerd-shim-kata-v2'];
/** Shipped by most releases, not all. */
const OPTIONAL_COMMANDS = ['kata-collect-data.sh'];

const recipe: Recipe = {
  name: 'kata-containers',
  description: 'Kata Containers lightweight-VM container runtime',
  versions: { kind: 'github-releases', repo: REPO, match: /^\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  // No units: nothing for systemd to reload (the bakery asked for a reload anyway).
  reload: false,
  verifiesChecksums: true,
  async build(api) {
    const suffix = api.compareVersions(api.version, '3.21.0') >= 0 ? 'tar.zst' : 'tar.xz';
    const url = api.url(
      'githubUrl',
      `${REPO}/releases/download/${api.version}/kata-static-${api.version}-${api.names.goarch}.${suffix}`,
    );
    const tree = await api.extract(await api.fetch(url, { githubAssetDigest: { repo: REPO, tag: api.version } }));
    await api.installTree(`${tree}/opt/kata`, 'opt/kata');
    const optional = [];
    for (const command of OPTIONAL_COMMANDS)
      if (await api.exists(`${tree}/opt/kata/bin/${command}`)) optional.push(command);
    for (const command of [...COMMANDS, ...optional])
      await api.symlink(`../../opt/kata/bin/${command}`, `usr/bin/${command}`);
  },
};

export default recipe;
