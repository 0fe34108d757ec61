/**
 * HAProxy Data Plane API, checked against the release's checksums.txt. It drives the haproxy sysext's
 * service, so its unit requires haproxy.service and is enabled by the user rather than upheld.
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';

/** The release tarballs say x86_64 but arm64. */
const ASSET_ARCH = { amd64: 'x86_64', arm64: 'arm64' };

const recipe: Recipe = {
  name: 'dataplaneapi',
  description: 'HAProxy Data Plane API',
  versions: { kind: 'github-releases', repo: 'haproxytech/dataplaneapi', match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: true,
  async build(api) {
    const base = `haproxytech/dataplaneapi/releases/download/${api.version}`;
    const asset = `dataplaneapi_${api.version.replace(/^v/, '')}_linux_${ASSET_ARCH[api.names.goarch]}.tar.gz`;
    const tree = await api.extract(
      await api.fetch(api.url('githubUrl', `${base}/${asset}`), {
        checksumUrl: api.url('githubUrl', `${base}/checksums.txt`),
      }),
    );
    await api.install(`${tree}/dataplaneapi`, 'usr/bin/dataplaneapi', 0o755);
  },
};

export default recipe;
