/**
 * NVIDIA container toolkit and libnvidia-container, built from the release tags' sources in a Go image
 * (build.sh), for docker and containerd on Flatcar with the NVIDIA driver sysext. Unlike the bakery
 * (reload=false, a `sytem` typo in its unit path) this ships its drop-ins where systemd reads them and
 * asks for a reload so they apply on merge.
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const BUILD_IMAGES = { amd64: 'docker.io/amd64/golang:1.23-bookworm', arm64: 'docker.io/arm64v8/golang:1.23-bookworm' };

const recipe: Recipe = {
  name: 'nvidia-runtime',
  description: 'NVIDIA container toolkit (built from source)',
  versions: { kind: 'github-releases', repo: 'NVIDIA/nvidia-container-toolkit', match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: false,
  options: [
    {
      name: 'build-image',
      value: '<image>',
      description: 'container image to build in (default: golang 1.23 for the arch)',
    },
  ],
  async build(api) {
    const unverified = { unverified: 'GitHub source archives have no published checksum' };
    const toolkit = api.url('githubUrl', `NVIDIA/nvidia-container-toolkit/archive/refs/tags/${api.version}.tar.gz`);
    const library = api.url('githubUrl', `NVIDIA/libnvidia-container/archive/refs/tags/${api.version}.tar.gz`);
    const source = await api.extract(await api.fetch(toolkit, unverified), { strip: 1 });
    await api.extract(await api.fetch(library, unverified), { strip: 1, into: `${source}/libnvidia-container` });
    const image = String(api.options['build-image'] ?? BUILD_IMAGES[api.names.goarch]);
    const out = await api.buildInContainer({ image, script: 'build.sh', source, env: { VERSION: api.version } });
    await api.installTree(`${out}/usr/bin`, 'usr/bin');
    await api.installTree(`${out}/usr/lib`, 'usr/lib64');
  },
};

export default recipe;
