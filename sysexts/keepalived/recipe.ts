/**
 * keepalived, built statically from the release tag's source in Alpine (build.sh), because upstream
 * publishes no binaries. Installed to usr/bin: the bakery's unit once pointed at /usr/sbin (issue #247).
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';

/** Per-arch official images, so an arm64 build needs binfmt but no --platform support in the runtime. */
const BUILD_IMAGES = { amd64: 'docker.io/amd64/alpine:3.21', arm64: 'docker.io/arm64v8/alpine:3.21' };

const recipe: Recipe = {
  name: 'keepalived',
  description: 'keepalived VRRP and health-checking daemon (built from source)',
  versions: { kind: 'github-tags', repo: 'acassen/keepalived', match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: false,
  options: [
    {
      name: 'build-image',
      value: '<image>',
      description: 'container image to build in (default: Alpine 3.21 for the arch)',
    },
  ],
  async build(api) {
    const url = api.url('githubUrl', `acassen/keepalived/archive/refs/tags/${api.version}.tar.gz`);
    const source = await api.extract(
      await api.fetch(url, { unverified: 'GitHub source archives have no published checksum' }),
      { strip: 1 },
    );
    const image = String(api.options['build-image'] ?? BUILD_IMAGES[api.names.goarch]);
    const out = await api.buildInContainer({ image, script: 'build.sh', source, env: { VERSION: api.version } });
    await api.install(`${out}/usr/bin/keepalived`, 'usr/bin/keepalived', 0o755);
  },
};

export default recipe;
