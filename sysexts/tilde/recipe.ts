/**
 * tilde, Debian's package wrapped: tilde and every library package it depends on (glibc included)
 * bundled below usr/lib/tilde, the binary's ELF interpreter and RPATH pointed into the bundle (what the
 * bakery's flix.sh does by hand). A version the index does not hold is refused, not silently replaced.
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const REPOSITORY = { kind: 'deb', release: 'bookworm', repositories: ['main'] } as const;

const recipe: Recipe = {
  name: 'tilde',
  description: 'tilde text editor (Debian package, bundled with its libraries)',
  versions: { kind: 'package-index', repository: REPOSITORY, package: 'tilde' },
  arches: ['x86-64', 'arm64'],
  reload: false,
  verifiesChecksums: true,
  async build(api) {
    await api.wrapPackages({ ...REPOSITORY, packages: ['tilde'], version: api.version, expose: ['usr/bin/tilde'] });
  },
};

export default recipe;
