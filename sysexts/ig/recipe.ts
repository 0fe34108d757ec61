/**
 * Inspektor Gadget's ig and gadgetctl. Their tarballs carry no checksum file, so each is checked against
 * the digest GitHub's release API lists for it. No units, so no reload (the bakery asked for one).
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const REPO = 'inspektor-gadget/inspektor-gadget';

const recipe: Recipe = {
  name: 'ig',
  description: 'Inspektor Gadget ig and gadgetctl (eBPF debugging tools)',
  versions: { kind: 'github-releases', repo: REPO, match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: false,
  verifiesChecksums: true,
  async build(api) {
    await api.concurrently(
      ['ig', 'gadgetctl'].map((tool) => async () => {
        const url = api.url(
          'githubUrl',
          `${REPO}/releases/download/${api.version}/${tool}-linux-${api.names.goarch}-${api.version}.tar.gz`,
        );
        const tree = await api.extract(await api.fetch(url, { githubAssetDigest: { repo: REPO, tag: api.version } }));
        await api.install(`${tree}/${tool}`, `usr/bin/${tool}`, 0o755);
      }),
    );
  },
};

export default recipe;
