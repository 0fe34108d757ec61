/**
 * chrony NTP client and server, built statically from the release tag's source in Alpine (build.sh).
 * It replaces systemd-timesyncd while merged (the unit conflicts with it); a default configuration ships
 * in usr/share/chrony, and /etc/chrony/chrony.conf takes over when it exists.
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';
import { ALPINE_IMAGES, buildImageOption, buildInImage, unpackTagArchive } from '../_shared/source-build.ts';

const recipe: Recipe = {
  name: 'chrony',
  description: 'chrony NTP client and server (built from source)',
  versions: { kind: 'gitlab-tags', project: 39973492, match: /^\d+\.\d+(\.\d+)?$/ },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: false,
  options: [buildImageOption('Alpine 3.21 for the arch')],
  async build(api) {
    const url = api.url('gitlabUrl', `chrony/chrony/-/archive/${api.version}/chrony-${api.version}.tar.gz`);
    const source = await unpackTagArchive(api, url, 'GitLab');
    const out = await buildInImage(api, source, ALPINE_IMAGES);
    for (const tool of ['chronyd', 'chronyc']) await api.install(`${out}/usr/bin/${tool}`, `usr/bin/${tool}`, 0o755);
  },
};

export default recipe;
