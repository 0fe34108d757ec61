/**
 * The Debian mirror this host's apt uses: the first non-security source in `/etc/apt/sources.list` or
 * `sources.list.d/*.{list,sources}` (one-line `deb URL suite` or deb822 `URIs:`). bake names no package
 * mirror of its own; where a Debian mirror is needed and none is configured, the host's is the one the
 * user already trusts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function hostDebianMirror(aptDir = '/etc/apt'): string | undefined {
  const listDir = join(aptDir, 'sources.list.d');
  const entries = (() => {
    try {
      return readdirSync(listDir)
        .filter((file) => /\.(list|sources)$/.test(file))
        .map((file) => join(listDir, file));
    } catch {
      return [];
    }
  })();
  for (const file of [join(aptDir, 'sources.list'), ...entries]) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const uri = /^URIs:\s*(\S+)/m.exec(text)?.[1] ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/m.exec(text)?.[1];
    if (uri && !/security/.test(uri)) return uri;
  }
  return undefined;
}
