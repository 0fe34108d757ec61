/**
 * The seed-documentation provisioning for bakery extensions (Flatcar docs "sysext", bakery README): each
 * image under /opt/extensions/<name>/ with its URL and hash, the /etc/extensions/<name>.raw link, the
 * sysupdate transfer conf, the noop conf that keeps systemd-sysupdate.service from failing when no
 * default transfer exists (flatcar/sysext-bakery#88), the timer, and one drop-in per extension that
 * acts when an update changed the linked image.
 */
import { usageError } from '../core/errors.ts';
import { sysupdateConfs } from '../sysext/sysupdate.ts';
import type { ProvisionFile, Provisioning, ProvisionUnit } from './model.ts';
import type { ResolvedExtension } from './refs.ts';

export type AutoUpdate = { kind: 'refresh' } | { kind: 'restart'; unit: string } | { kind: 'reboot' };

export const NOOP_CONF = [
  '# Matches nothing, on purpose: without any transfer in /etc/sysupdate.d, systemd-sysupdate.service',
  '# fails on every run; the extensions have their own confs in /etc/sysupdate.<name>.d.',
  '[Source]',
  'Type=regular-file',
  'Path=/',
  'MatchPattern=invalid@v.raw',
  '',
  '[Target]',
  'Type=regular-file',
  'Path=/',
  '',
].join('\n');

const UNIT_NAME = /^[A-Za-z0-9:_.\\@-]+\.(service|socket|target|timer|path|mount)$/;

export function parseAutoUpdate(value: string): AutoUpdate {
  if (value === 'refresh' || value === 'reboot') return { kind: value };
  const unit = /^restart:(.+)$/.exec(value)?.[1];
  if (unit !== undefined && UNIT_NAME.test(unit)) return { kind: 'restart', unit };
  throw usageError(
    `unknown --auto-update '${value}'`,
    'use refresh, reboot or restart:<unit>, e.g. restart:docker.service',
  );
}

/** What runs after a sysupdate run changed the image an extension's symlink points to. */
function onChange(action: AutoUpdate): string {
  const table: Record<AutoUpdate['kind'], string> = {
    refresh: '/usr/bin/systemd-sysext refresh',
    restart: `/usr/bin/systemd-sysext refresh && /usr/bin/systemctl restart ${action.kind === 'restart' ? action.unit : ''}`,
    // Flatcar's reboot managers (locksmithd, FLUO, kured) act on this flag.
    reboot: '/usr/bin/touch /run/reboot-required',
  };
  return table[action.kind];
}

function updateDropin(name: string, action: AutoUpdate): { name: string; contents: string } {
  const before = `/run/bake-sysupdate-${name}.before`;
  const after = `/run/bake-sysupdate-${name}.after`;
  const link = `/etc/extensions/${name}.raw`;
  return {
    name: `${name}.conf`,
    contents: [
      '[Service]',
      `ExecStartPre=/usr/bin/sh -c "readlink --canonicalize ${link} > ${before}"`,
      `ExecStartPre=/usr/lib/systemd/systemd-sysupdate -C ${name} update`,
      `ExecStartPost=/usr/bin/sh -c "readlink --canonicalize ${link} > ${after}"`,
      `ExecStartPost=/usr/bin/sh -c "if ! cmp --silent ${before} ${after}; then ${onChange(action)}; fi"`,
      '',
    ].join('\n'),
  };
}

export interface SysextProvisioningOptions {
  bakeryUrl: string;
  /** Undefined: no sysupdate confs, timer or drop-ins, the images stay as provisioned. */
  autoUpdate?: AutoUpdate;
}

export function sysextProvisioning(
  extensions: readonly ResolvedExtension[],
  options: SysextProvisioningOptions,
): Provisioning {
  const files: ProvisionFile[] = extensions.map((extension) => ({
    path: `/opt/extensions/${extension.name}/${extension.file}`,
    mode: 0o644,
    contents: { source: extension.url, sha256: extension.sha256 },
  }));
  const links = extensions.map((extension) => ({
    path: `/etc/extensions/${extension.name}.raw`,
    target: `/opt/extensions/${extension.name}/${extension.file}`,
  }));
  const units: ProvisionUnit[] = [];
  const action = options.autoUpdate;
  const updatable = action ? extensions.filter((extension) => extension.version !== undefined) : [];
  if (action && updatable.length > 0) {
    for (const extension of updatable) {
      const confs = sysupdateConfs({
        name: extension.name,
        version: extension.version!,
        bakeryUrl: options.bakeryUrl,
        verify: false,
        patchLevel: false,
      });
      files.push(
        ...confs.map((conf) => ({
          path: `/etc/sysupdate.${extension.name}.d/${conf.fileName}`,
          mode: 0o644,
          contents: { inline: conf.text },
        })),
      );
    }
    files.push({ path: '/etc/sysupdate.d/noop.conf', mode: 0o644, contents: { inline: NOOP_CONF } });
    units.push({ name: 'systemd-sysupdate.timer', enabled: true });
    units.push({
      name: 'systemd-sysupdate.service',
      dropins: updatable.map((extension) => updateDropin(extension.name, action)),
    });
  }
  return { files, links, units, users: [] };
}

/** Extensions whose file name does not carry a version cannot be followed by sysupdate. */
export function notUpdatable(extensions: readonly ResolvedExtension[]): string[] {
  return extensions.filter((extension) => extension.version === undefined).map((extension) => extension.name);
}
