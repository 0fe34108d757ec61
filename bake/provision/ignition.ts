/**
 * Renders a Provisioning as an Ignition config (spec 3.3.0, what Flatcar's Butane variant 1.0.0 emits and
 * every Flatcar release since 3185 reads), so users need no Butane container to get one.
 */
import { isInline, type ProvisionFile, type Provisioning, type ProvisionUnit } from './model.ts';

export const IGNITION_VERSION = '3.3.0';

export interface IgnitionFile {
  path: string;
  mode: number;
  overwrite: boolean;
  contents: { source: string; verification?: { hash: string } };
}

export interface IgnitionUnit {
  name: string;
  enabled?: boolean;
  mask?: boolean;
  contents?: string;
  dropins?: Array<{ name: string; contents: string }>;
}

export interface IgnitionConfig {
  ignition: { version: string };
  passwd?: { users: Array<{ name: string; sshAuthorizedKeys: string[] }> };
  storage?: {
    files?: IgnitionFile[];
    links?: Array<{ path: string; target: string; hard: boolean; overwrite: boolean }>;
  };
  systemd?: { units: IgnitionUnit[] };
}

/**
 * An RFC 2397 data URL. Plain ASCII text is percent-encoded (readable, as Butane does for small files);
 * anything else is base64, which every Ignition reads byte for byte.
 */
export function dataUrl(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: tab and newline are allowed in plain text
  if (/^[\x09\x0a\x20-\x7e]*$/.test(text)) return `data:,${encodeURIComponent(text)}`;
  return `data:;base64,${Buffer.from(text, 'utf8').toString('base64')}`;
}

function ignitionFile(file: ProvisionFile): IgnitionFile {
  const contents = isInline(file.contents)
    ? { source: dataUrl(file.contents.inline) }
    : {
        source: file.contents.source,
        ...(file.contents.sha256 ? { verification: { hash: `sha256-${file.contents.sha256}` } } : {}),
      };
  return { path: file.path, mode: file.mode, overwrite: true, contents };
}

function ignitionUnit(unit: ProvisionUnit): IgnitionUnit {
  return {
    name: unit.name,
    ...(unit.enabled !== undefined ? { enabled: unit.enabled } : {}),
    ...(unit.mask ? { mask: true } : {}),
    ...(unit.contents !== undefined ? { contents: unit.contents } : {}),
    ...(unit.dropins?.length ? { dropins: unit.dropins } : {}),
  };
}

export function toIgnition(config: Provisioning): IgnitionConfig {
  const result: IgnitionConfig = { ignition: { version: IGNITION_VERSION } };
  if (config.users.length > 0) result.passwd = { users: config.users };
  if (config.files.length > 0 || config.links.length > 0) {
    result.storage = {
      ...(config.files.length > 0 ? { files: config.files.map(ignitionFile) } : {}),
      ...(config.links.length > 0
        ? {
            links: config.links.map((link) => ({ path: link.path, target: link.target, hard: false, overwrite: true })),
          }
        : {}),
    };
  }
  if (config.units.length > 0) result.systemd = { units: config.units.map(ignitionUnit) };
  return result;
}

/**
 * Adds `extra`'s files, links, units and users to `base` (whose version wins: the arrays mean the same
 * in every 3.x spec). Used to boot a user's config together with bake's own additions.
 */
export function mergeIgnition(base: IgnitionConfig, extra: IgnitionConfig): IgnitionConfig {
  const concat = <T>(a: T[] | undefined, b: T[] | undefined): T[] => [...(a ?? []), ...(b ?? [])];
  const files = concat(base.storage?.files, extra.storage?.files);
  const links = concat(base.storage?.links, extra.storage?.links);
  const units = concat(base.systemd?.units, extra.systemd?.units);
  const users = concat(base.passwd?.users, extra.passwd?.users);
  return {
    ...base,
    ...(users.length > 0 ? { passwd: { ...base.passwd, users } } : {}),
    ...(files.length > 0 || links.length > 0
      ? { storage: { ...base.storage, ...(files.length ? { files } : {}), ...(links.length ? { links } : {}) } }
      : {}),
    ...(units.length > 0 ? { systemd: { ...base.systemd, units } } : {}),
  };
}
