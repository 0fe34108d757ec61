/**
 * The shell-style `KEY=value` files Flatcar and systemd use: os-release, extension-release and the
 * release's version.txt. Values may be quoted; comments and other lines are skipped.
 */
export function parseKeyValueFile(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!match) continue;
    fields[match[1]!] = match[2]!.replace(/^(["'])(.*)\1$/, '$2');
  }
  return fields;
}
