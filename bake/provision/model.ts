/**
 * A provisioning config in one neutral shape (files, links, units), so that the Butane and the Ignition
 * renderers stay two small translations of the same data and cannot drift apart. `bake butane`,
 * `bake ignition` and `bake boot` all build one of these.
 */
export interface RemoteContents {
  source: string;
  /** Hex SHA-256 the provisioner checks after download (Ignition `verification.hash`). */
  sha256?: string;
}

export interface ProvisionFile {
  path: string;
  /** Permission bits, e.g. 0o644. */
  mode: number;
  contents: RemoteContents | { inline: string };
}

export interface ProvisionLink {
  path: string;
  target: string;
}

export interface ProvisionDropin {
  name: string;
  contents: string;
}

export interface ProvisionUnit {
  name: string;
  enabled?: boolean;
  mask?: boolean;
  contents?: string;
  dropins?: ProvisionDropin[];
}

export interface ProvisionUser {
  name: string;
  sshAuthorizedKeys: string[];
}

export interface Provisioning {
  files: ProvisionFile[];
  links: ProvisionLink[];
  units: ProvisionUnit[];
  users: ProvisionUser[];
}

export function emptyProvisioning(): Provisioning {
  return { files: [], links: [], units: [], users: [] };
}

/** Concatenates configs; a unit named twice has its drop-ins combined and later fields win. */
export function mergeProvisioning(...parts: Provisioning[]): Provisioning {
  const units = new Map<string, ProvisionUnit>();
  for (const unit of parts.flatMap((part) => part.units)) {
    const previous = units.get(unit.name);
    const dropins = [...(previous?.dropins ?? []), ...(unit.dropins ?? [])];
    units.set(unit.name, { ...previous, ...unit, ...(dropins.length > 0 ? { dropins } : {}) });
  }
  return {
    files: parts.flatMap((part) => part.files),
    links: parts.flatMap((part) => part.links),
    units: [...units.values()],
    users: parts.flatMap((part) => part.users),
  };
}

export function isInline(contents: ProvisionFile['contents']): contents is { inline: string } {
  return 'inline' in contents;
}
