/**
 * The extension-release file: what systemd-sysext reads to decide whether an image fits the host
 * (docs/flatcar-facts.md §5). The file name must be `extension-release.<name>` where name is the image's name in
 * /etc/extensions, so the name is part of the contract, not decoration.
 */
import type { Arch } from '../core/arch.ts';

export const EXTENSION_RELEASE_DIR = 'usr/lib/extension-release.d';

/** Flatcar's os-release SYSEXT_LEVEL; only written when the image is tied to an OS ID. */
const FLATCAR_SYSEXT_LEVEL = '1.0';

export interface ExtensionReleaseFields {
  name: string;
  arch: Arch;
  /** os-release ID the image is for; `_any` skips the ID and level checks. */
  os: string;
  /** EXTENSION_RELOAD_MANAGER=1: systemd reloads units on merge (the image ships units). */
  reload: boolean;
}

export function extensionReleasePath(name: string): string {
  return `${EXTENSION_RELEASE_DIR}/extension-release.${name}`;
}

export function extensionReleaseText(fields: ExtensionReleaseFields): string {
  const lines = [`ID=${fields.os}`];
  if (fields.os !== '_any') lines.push(`SYSEXT_LEVEL=${FLATCAR_SYSEXT_LEVEL}`);
  lines.push(`ARCHITECTURE=${fields.arch}`);
  if (fields.reload) lines.push('EXTENSION_RELOAD_MANAGER=1');
  return `${lines.join('\n')}\n`;
}
