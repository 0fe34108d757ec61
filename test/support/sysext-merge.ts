/**
 * A real `systemd-sysext merge` of built images, for the recipe tests: a Flatcar-like root (os-release
 * with ID=flatcar and SYSEXT_LEVEL=1.0, an /etc/extensions to drop images into), merged in a private
 * mount namespace so no mount outlives the run, even when it is killed.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

/** Makes `root` a root systemd-sysext accepts; returns its etc/extensions. */
export async function flatcarMergeRoot(root: string): Promise<string> {
  await mkdir(join(root, 'usr/lib'), { recursive: true });
  await writeFile(join(root, 'usr/lib/os-release'), 'ID=flatcar\nVERSION_ID=4152.2.0\nSYSEXT_LEVEL=1.0\n');
  const extensions = join(root, 'etc/extensions');
  await mkdir(extensions, { recursive: true });
  return extensions;
}

/** Merges the images in `root`, runs the shell `commands` ("$1" is the root), unmerges; returns their stdout. */
export async function runMerged(root: string, commands: readonly string[]): Promise<string> {
  const script = [
    'set -e',
    'mount -t tmpfs tmpfs /run',
    'mount --bind "$1" "$1"',
    'mount --make-rshared "$1"',
    'systemd-sysext --root="$1" merge',
    ...commands,
    'systemd-sysext --root="$1" unmerge',
  ].join('\n');
  const { stdout } = await execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', root]);
  return stdout;
}
