/**
 * Renders a Provisioning as Butane YAML (variant flatcar, version 1.0.0), the form Flatcar's docs and
 * users write by hand. Multi-line texts become literal blocks so units and confs read as they will land.
 */
import { Scalar, stringify } from 'yaml';
import { isInline, type ProvisionFile, type Provisioning } from './model.ts';

export const BUTANE_VARIANT = 'flatcar';
export const BUTANE_VERSION = '1.0.0';

/** A mode as people write it in Butane (`0644`), not the decimal `420` the number would print as. */
function octalMode(mode: number): Scalar<number> {
  const scalar = new Scalar(mode);
  scalar.format = 'OCT';
  return scalar;
}

function butaneFile(file: ProvisionFile): Record<string, unknown> {
  const contents = isInline(file.contents)
    ? { inline: file.contents.inline }
    : {
        source: file.contents.source,
        ...(file.contents.sha256 ? { verification: { hash: `sha256-${file.contents.sha256}` } } : {}),
      };
  return { path: file.path, mode: octalMode(file.mode), overwrite: true, contents };
}

export function toButaneDocument(config: Provisioning): Record<string, unknown> {
  const document: Record<string, unknown> = { variant: BUTANE_VARIANT, version: BUTANE_VERSION };
  if (config.users.length > 0) document.passwd = { users: config.users };
  if (config.files.length > 0 || config.links.length > 0) {
    document.storage = {
      ...(config.files.length > 0 ? { files: config.files.map(butaneFile) } : {}),
      ...(config.links.length > 0
        ? {
            links: config.links.map((link) => ({ path: link.path, target: link.target, hard: false, overwrite: true })),
          }
        : {}),
    };
  }
  if (config.units.length > 0) document.systemd = { units: config.units };
  return document;
}

export function toButane(config: Provisioning): string {
  // YAML 1.1 is what Butane's parser reads octals as (0644); 1.2 would write 0o644.
  return stringify(toButaneDocument(config), { blockQuote: 'literal', lineWidth: 0, version: '1.1' });
}
