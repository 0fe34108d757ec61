// Decides whether the compiled CLI in dist/ may run: only when no TypeScript source is newer than the
// stamp `npm run build` leaves at its start, so an edit after the build never runs stale code.
// Plain JavaScript: it runs before tsx is loaded.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const BUILD_CONFIG = 'tsconfig.build.json';
export const BUILD_STAMP = join('dist', '.build-stamp');

/** The folders compiled into dist/: the build config's "include", read so the two cannot drift apart. */
function sourceDirs(root) {
  return JSON.parse(readFileSync(join(root, BUILD_CONFIG), 'utf8')).include;
}

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
  let dirs;
  try {
    stamp = statSync(join(root, BUILD_STAMP)).mtimeMs;
    dirs = sourceDirs(root);
  } catch {
    return false;
  }
  // Strictly older: a source stamped in the same clock tick as the build's start may have been edited
  // after tsc read it.
  return dirs.every((dir) => newestSourceMtime(join(root, dir)) < stamp);
}
