/**
 * chrony NTP client and server, built statically from the release tag's source in Alpine (build.sh).
 * It replaces systemd-timesyncd while merged (the unit conflicts with it); a default configuration ships
 * in usr/share/chrony, and /etc/chrony/chrony.conf takes over when it exists.
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const BUILD_IMAGES = { amd64: 'docker.io/amd64/alpine:3.21', arm64: 'docker.io/arm64v8/alpine:3.21' };

const recipe: Recipe = {
  name: 'chrony',
  description: 'chrony NTP client and server (built from source)',
  versions: { kind: 'gitlab-tags', project: 39973492, match: /^\d+\.\d+(\.\d+)?$/ },
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
    const url = api.url('gitlabUrl', `chrony/chrony/-/archive/${api.version}/chrony-${api.version}.tar.gz`);
    const source = await api.extract(
      await api.fetch(url, { unverified: 'GitLab source archives have no published checksum' }),
      { strip: 1 },
    );
    const image = String(api.options['build-image'] ?? BUILD_IMAGES[api.names.goarch]);
    const out = await api.buildInContainer({ image, script: 'build.sh', source, env: { VERSION: api.version } });
    for (const tool of ['chronyd', 'chronyc']) await api.install(`${out}/usr/bin/${tool}`, `usr/bin/${tool}`, 0o755);
  },
};

export default recipe;
