/** Where the sysext builders keep a URL's download in the cache. */
import { join } from 'node:path';

/** Host and path, readable and stable across runs; `..` segments are dropped. */
export function cachePathFor(cacheDir: string, url: string): string {
  const parsed = new URL(url);
  const path = decodeURIComponent(parsed.pathname)
    .split('/')
    .filter((part) => part && part !== '..')
    .join('/');
  return join(cacheDir, 'sysext', 'downloads', parsed.host.replace(/[^\w.-]/g, '_'), path);
}
