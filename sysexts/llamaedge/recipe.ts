/**
 * LlamaEdge's OpenAI-compatible API server (a WebAssembly application) and the WasmEdge wasi_nn-ggml
 * plugin it needs, for the wasmedge sysext to run. The plugin must match that WasmEdge's version, so
 * `--wasmedge-version` is required (as in the bakery, which therefore never builds it automatically).
 * WasmEdge loads plugins from `wasmedge/` beside libwasmedge, i.e. usr/lib64/wasmedge.
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const APPLICATION = 'llama-api-server';

const recipe: Recipe = {
  name: 'llamaedge',
  description: 'LlamaEdge API server and the WasmEdge wasi_nn-ggml plugin (needs the wasmedge sysext)',
  versions: { kind: 'github-releases', repo: 'LlamaEdge/LlamaEdge', match: /^\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: false,
  verifiesChecksums: false,
  options: [
    {
      name: 'wasmedge-version',
      value: '<version>',
      required: true,
      description: 'the WasmEdge release the plugin is for (that of the wasmedge sysext)',
    },
  ],
  async build(api) {
    const wasmedge = String(api.options['wasmedge-version']);
    const unverified = { unverified: 'LlamaEdge and WasmEdge releases publish no checksum files' };
    const application = api.url(
      'githubUrl',
      `LlamaEdge/LlamaEdge/releases/download/${api.version}/${APPLICATION}.wasm`,
    );
    const pluginAsset = `WasmEdge-plugin-wasi_nn-ggml-${wasmedge}-ubuntu20.04_${api.names.machine}.tar.gz`;
    const plugin = api.url('githubUrl', `WasmEdge/WasmEdge/releases/download/${wasmedge}/${pluginAsset}`);
    await api.concurrently([
      async () => api.install(await api.fetch(application, unverified), `usr/lib/llamaedge/${APPLICATION}.wasm`, 0o644),
      async () => api.installTree(await api.extract(await api.fetch(plugin, unverified)), 'usr/lib64/wasmedge'),
    ]);
    // The server reads models and its chat templates from the directory it is started in.
    await api.writeFile(
      `usr/bin/${APPLICATION}`,
      `#!/bin/sh\nexec /usr/bin/wasmedge --dir .:. /usr/lib/llamaedge/${APPLICATION}.wasm "$@"\n`,
      0o755,
    );
  },
};

export default recipe;
