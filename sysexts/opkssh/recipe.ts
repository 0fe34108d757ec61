/**
 * opkssh (OpenPubkey SSH): one binary. Its releases carry no checksum file, so the download is checked
 * against the digest GitHub's release API lists for the asset.
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const REPO = 'openpubkey/opkssh';

const recipe: Recipe = {
  name: 'opkssh',
  description: 'opkssh, SSH with OpenID Connect identities',
  versions: { kind: 'github-releases', repo: REPO, match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: false,
  verifiesChecksums: true,
  async build(api) {
    const url = api.url('githubUrl', `${REPO}/releases/download/${api.version}/opkssh-linux-${api.names.goarch}`);
    await api.install(
      await api.fetch(url, { githubAssetDigest: { repo: REPO, tag: api.version } }),
      'usr/bin/opkssh',
      0o755,
    );
  },
};

export default recipe;
