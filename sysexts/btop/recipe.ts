/**
 * btop, Alpine's package wrapped: btop and its musl, libgcc and libstdc++ packages bundled below
 * usr/lib/btop, the binary pointed at the bundle's musl loader. Unlike the bakery (which installs
 * whatever Alpine has and ignores the version asked for), a version the index does not hold is refused.
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const REPOSITORY = { kind: 'apk', release: 'latest-stable', repositories: ['community', 'main'] } as const;

const recipe: Recipe = {
  name: 'btop',
  description: 'btop resource monitor (Alpine package, bundled with its libraries)',
  versions: { kind: 'package-index', repository: REPOSITORY, package: 'btop' },
  arches: ['x86-64', 'arm64'],
  reload: false,
  verifiesChecksums: true,
  async build(api) {
    await api.wrapPackages({ ...REPOSITORY, packages: ['btop'], version: api.version, expose: ['usr/bin/btop'] });
  },
};

export default recipe;
