/**
 * Where bake's own files live (package.json, the sysext catalogue's static files), the same whether it
 * runs from the TypeScript sources through tsx or from the compiled copy in dist/.
 */
import { existsSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

export const PROJECT_ROOT = findProjectRoot(dirname(fileURLToPath(import.meta.url)));

/** '.ts' from the sources, '.js' from dist/: modules loaded by computed path must match the running build. */
export const MODULE_EXTENSION = extname(fileURLToPath(import.meta.url));

/** Where modules loaded by computed path live: the sources, or their compiled copies in dist/. */
export const MODULE_ROOT = MODULE_EXTENSION === '.ts' ? PROJECT_ROOT : join(PROJECT_ROOT, 'dist');
