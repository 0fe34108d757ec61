/**
 * BIRD internet routing daemon, built statically from the release tag's source in Alpine (build.sh):
 * upstream publishes no binaries. Unlike the bakery's, the Upholds drop-in ends in .conf, so systemd
 * reads it and bird starts on merge.
 */
import type { RecipeEndpoint } from '../../bake/core/endpoints.ts';
import type { Recipe } from '../../bake/sysext/recipe.ts';

/** Per-arch official images, so an arm64 build needs binfmt but no --platform support in the runtime. */
const BUILD_IMAGES = { amd64: 'docker.io/amd64/alpine:3.21', arm64: 'docker.io/arm64v8/alpine:3.21' };

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
  options: [
    {
      name: 'build-image',
      value: '<image>',
      description: 'container image to build in (default: Alpine 3.21 for the arch)',
    },
  ],
  async build(api) {
    const url = api.url(GITLAB_NIC, `labs/bird/-/archive/v${api.version}/bird-v${api.version}.tar.gz`);
    const source = await api.extract(
      await api.fetch(url, { unverified: 'GitLab source archives have no published checksum' }),
      { strip: 1 },
    );
    const image = String(api.options['build-image'] ?? BUILD_IMAGES[api.names.goarch]);
    const out = await api.buildInContainer({ image, script: 'build.sh', source, env: { VERSION: api.version } });
    for (const tool of ['bird', 'birdc', 'birdcl'])
      await api.install(`${out}/usr/bin/${tool}`, `usr/bin/${tool}`, 0o755);
  },
};

export default recipe;
