// Decides whether the compiled CLI in dist/ may run: only when no TypeScript source is newer than the
// stamp `npm run build` leaves at its start, so an edit after the build never runs stale code.
// Plain JavaScript: it runs before tsx is loaded.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The folders compiled into dist/ (tsconfig.build.json's "include"). */
export const SOURCE_DIRS = ['bake', 'sysexts', 'vendors'];
export const BUILD_STAMP = join('dist', '.build-stamp');

function newestSourceMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

export function compiledBuildIsFresh(root) {
  let stamp;
  try {
    stamp = statSync(join(root, BUILD_STAMP)).mtimeMs;
  } catch {
    return false;
  }
  return SOURCE_DIRS.every((dir) => newestSourceMtime(join(root, dir)) <= stamp);
}
