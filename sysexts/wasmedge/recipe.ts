/** WasmEdge runtime: binaries and libwasmedge (its binaries find it through RUNPATH $ORIGIN/../lib64). */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const recipe: Recipe = {
  name: 'wasmedge',
  description: 'WasmEdge WebAssembly runtime',
  versions: { kind: 'github-releases', repo: 'WasmEdge/WasmEdge', match: /^\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: false,
  verifiesChecksums: false,
  async build(api) {
    const asset = `WasmEdge-${api.version}-ubuntu20.04_${api.names.machine}.tar.gz`;
    const url = api.url('githubUrl', `WasmEdge/WasmEdge/releases/download/${api.version}/${asset}`);
    const tree = await api.extract(await api.fetch(url, { unverified: 'WasmEdge releases publish no checksum file' }), {
      strip: 1,
    });
    await api.installTree(`${tree}/bin`, 'usr/bin');
    // Flatcar's library directory is lib64 on both arches; older arm64 tarballs say lib.
    const libs = (await api.exists(`${tree}/lib64`)) ? `${tree}/lib64` : `${tree}/lib`;
    await api.installTree(libs, 'usr/lib64');
    if (await api.exists(`${tree}/include`)) await api.installTree(`${tree}/include`, 'usr/include');
  },
};

export default recipe;
