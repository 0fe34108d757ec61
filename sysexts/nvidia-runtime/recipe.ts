/**
 * NVIDIA container toolkit and libnvidia-container, built from the release tags' sources in a Go image
 * (build.sh), for docker and containerd on Flatcar with the NVIDIA driver sysext. Unlike the bakery
 * (reload=false, a `sytem` typo in its unit path) this ships its drop-ins where systemd reads them and
 * asks for a reload so they apply on merge.
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';
import { buildImageOption, buildInImage, GOLANG_IMAGES } from '../_shared/source-build.ts';

const recipe: Recipe = {
  name: 'nvidia-runtime',
  description: 'NVIDIA container toolkit (built from source)',
  versions: { kind: 'github-releases', repo: 'NVIDIA/nvidia-container-toolkit', match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: false,
  options: [buildImageOption('golang 1.23 for the arch')],
  async build(api) {
    const unverified = { unverified: 'GitHub source archives have no published checksum' };
    const toolkit = api.url('githubUrl', `NVIDIA/nvidia-container-toolkit/archive/refs/tags/${api.version}.tar.gz`);
    const library = api.url('githubUrl', `NVIDIA/libnvidia-container/archive/refs/tags/${api.version}.tar.gz`);
    const source = await api.extract(await api.fetch(toolkit, unverified), { strip: 1 });
    await api.extract(await api.fetch(library, unverified), { strip: 1, into: `${source}/libnvidia-container` });
    const out = await buildInImage(api, source, GOLANG_IMAGES);
    await api.installTree(`${out}/usr/bin`, 'usr/bin');
    await api.installTree(`${out}/usr/lib`, 'usr/lib64');
  },
};

export default recipe;
