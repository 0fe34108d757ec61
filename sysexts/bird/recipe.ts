/**
 * BIRD internet routing daemon, built statically from the release tag's source in Alpine (build.sh):
 * upstream publishes no binaries. Unlike the bakery's, the Upholds drop-in ends in .conf, so systemd
 * reads it and bird starts on merge.
 */
import type { RecipeEndpoint } from '../../bake/core/endpoints.ts';
import type { Recipe } from '../../bake/sysext/recipe.ts';
import { ALPINE_IMAGES, buildImageOption, buildInImage, unpackTagArchive } from '../_shared/source-build.ts';

const GITLAB_NIC: RecipeEndpoint = {
  name: 'gitlabNicUrl',
  flag: '--gitlab-nic-url',
  env: 'BAKE_GITLAB_NIC_URL',
  default: 'https://gitlab.nic.cz',
  description: 'CZ.NIC GitLab (BIRD tags and source archives)',
};

const recipe: Recipe = {
  name: 'bird',
  description: 'BIRD internet routing daemon (built from source)',
  versions: { kind: 'gitlab-tags', endpoint: GITLAB_NIC, project: 6, match: /^v\d+\.\d+(\.\d+)?$/, stripV: true },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: false,
  endpoints: [GITLAB_NIC],
  options: [buildImageOption('Alpine 3.21 for the arch')],
  async build(api) {
    const url = api.url(GITLAB_NIC, `labs/bird/-/archive/v${api.version}/bird-v${api.version}.tar.gz`);
    const source = await unpackTagArchive(api, url, 'GitLab');
    const out = await buildInImage(api, source, ALPINE_IMAGES);
    for (const tool of ['bird', 'birdc', 'birdcl'])
      await api.install(`${out}/usr/bin/${tool}`, `usr/bin/${tool}`, 0o755);
  },
};

export default recipe;
