/**
 * keepalived, built statically from the release tag's source in Alpine (build.sh), because upstream
 * publishes no binaries. Installed to usr/bin: the bakery's unit once pointed at /usr/sbin (issue #247).
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';
import { ALPINE_IMAGES, buildImageOption, buildInImage, unpackTagArchive } from '../_shared/source-build.ts';

const recipe: Recipe = {
  name: 'keepalived',
  description: 'keepalived VRRP and health-checking daemon (built from source)',
  versions: { kind: 'github-tags', repo: 'acassen/keepalived', match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: false,
  options: [buildImageOption('Alpine 3.21 for the arch')],
  async build(api) {
    const url = api.url('githubUrl', `acassen/keepalived/archive/refs/tags/${api.version}.tar.gz`);
    const source = await unpackTagArchive(api, url, 'GitHub');
    const out = await buildInImage(api, source, ALPINE_IMAGES);
    await api.install(`${out}/usr/bin/keepalived`, 'usr/bin/keepalived', 0o755);
  },
};

export default recipe;
