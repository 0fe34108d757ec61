/**
 * `npm run build`'s last step: bundles the compiled CLI (dist/bake/cli.js and everything it imports,
 * npm packages included) into a few files in dist/bundle/. Node loads some 200 ES modules for a bake
 * (execa alone is over 100), and resolving and linking them one by one is most of bake's ~0.2 s
 * start-up; a bundle starts in about half that. Subcommands stay separate chunks, loaded when named.
 * The recipe modules are not bundled: the catalogue imports them by path from dist/sysexts/.
 */
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/bake/cli.js'],
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Some bundled packages are CommonJS and call require() for Node's built-in modules.
  banner: {
    js: "import { createRequire as bundleCreateRequire } from 'node:module'; const require = bundleCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
