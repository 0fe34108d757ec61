/**
 * HAProxy, built statically (musl) from the release tarball in Alpine (build.sh), checked against the
 * .sha256 haproxy.org publishes beside it. Versions come from the per-branch source listings, from the
 * 3.0 branch on (development releases are left out by the pattern). The default configuration is
 * copied to /etc/haproxy on first boot (tmpfiles) and the service runs as the haproxy user (sysusers).
 */
import type { RecipeEndpoint } from '../../bake/core/endpoints.ts';
import type { Recipe } from '../../bake/sysext/recipe.ts';
import { ALPINE_IMAGES, buildImageOption, buildInImage } from '../_shared/source-build.ts';

const HAPROXY: RecipeEndpoint = {
  name: 'haproxyUrl',
  flag: '--haproxy-url',
  env: 'BAKE_HAPROXY_URL',
  default: 'https://www.haproxy.org',
  description: 'HAProxy source releases and their listings',
};

const recipe: Recipe = {
  name: 'haproxy',
  description: 'HAProxy load balancer (built from source)',
  versions: {
    kind: 'html-branch-listings',
    endpoint: HAPROXY,
    path: '/download/',
    branch: /^(\d+\.\d+)$/,
    minimumBranch: '3.0',
    branchPath: '/download/{branch}/src/',
    pattern: /^haproxy-(\d+\.\d+\.\d+)\.tar\.gz$/,
  },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: true,
  endpoints: [HAPROXY],
  options: [buildImageOption('Alpine 3.21 for the arch')],
  async build(api) {
    const branch = /^\d+\.\d+/.exec(api.version)?.[0] ?? api.version;
    const url = api.url(HAPROXY, `download/${branch}/src/haproxy-${api.version}.tar.gz`);
    const source = await api.extract(await api.fetch(url, { checksumUrl: `${url}.sha256` }), { strip: 1 });
    const out = await buildInImage(api, source, ALPINE_IMAGES);
    await api.install(`${out}/usr/bin/haproxy`, 'usr/bin/haproxy', 0o755);
  },
};

export default recipe;
