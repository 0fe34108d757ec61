/**
 * Cloud Hypervisor and ch-remote, the static builds. Releases carry no checksum file, so each download is
 * checked against the digest GitHub's release API lists for it.
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const REPO = 'cloud-hypervisor/cloud-hypervisor';
/** Upstream names the x86-64 builds without a suffix. */
const ASSET_SUFFIX = { amd64: '', arm64: '-aarch64' };

const recipe: Recipe = {
  name: 'cloud-hypervisor',
  description: 'Cloud Hypervisor virtual machine monitor',
  versions: { kind: 'github-releases', repo: REPO, match: /^v\d+\.\d+(\.\d+)?$/ },
  arches: ['x86-64', 'arm64'],
  reload: false,
  verifiesChecksums: true,
  async build(api) {
    const suffix = ASSET_SUFFIX[api.names.goarch];
    await api.concurrently(
      ['cloud-hypervisor', 'ch-remote'].map((tool) => async () => {
        const url = api.url('githubUrl', `${REPO}/releases/download/${api.version}/${tool}-static${suffix}`);
        await api.install(
          await api.fetch(url, { githubAssetDigest: { repo: REPO, tag: api.version } }),
          `usr/bin/${tool}`,
          0o755,
        );
      }),
    );
  },
};

export default recipe;
