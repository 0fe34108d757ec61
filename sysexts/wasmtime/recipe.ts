/** wasmtime, the Bytecode Alliance WebAssembly runtime: one binary from the release tarball. */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const recipe: Recipe = {
  name: 'wasmtime',
  description: 'Wasmtime WebAssembly runtime',
  versions: { kind: 'github-releases', repo: 'bytecodealliance/wasmtime', match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: false,
  verifiesChecksums: false,
  async build(api) {
    const asset = `wasmtime-${api.version}-${api.names.machine}-linux.tar.xz`;
    const url = api.url('githubUrl', `bytecodealliance/wasmtime/releases/download/${api.version}/${asset}`);
    const tree = await api.extract(await api.fetch(url, { unverified: 'wasmtime releases publish no checksum file' }), {
      strip: 1,
    });
    await api.install(`${tree}/wasmtime`, 'usr/bin/wasmtime', 0o755);
  },
};

export default recipe;
