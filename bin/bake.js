#!/usr/bin/env node
// Starts the compiled and bundled CLI from dist/ when it is up to date (about 0.35 s faster than
// compiling on the fly), otherwise the TypeScript sources through tsx, so a checkout works without a
// build step.
import { fileURLToPath } from 'node:url';
import { compiledBuildIsFresh } from './build-freshness.js';

const root = fileURLToPath(new URL('..', import.meta.url));
if (compiledBuildIsFresh(root)) {
  await import('../dist/bundle/cli.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../bake/cli.ts');
}
