/**
 * systemd-sysupdate transfer configs in the bakery's names and contents (docs/flatcar-facts.md §6): one
 * `<name>.conf` that follows every new release, and for recipes whose users pin a minor (kubernetes, k3s,
 * rke2) one `<name>-vX.Y.conf` per minor that only follows patch releases. All of them keep the
 * `/etc/extensions/<name>.raw` symlink name, because the image's extension-release is named after it
 * (the bakery's k3s patch conf once pointed elsewhere, issue #140).
 */
export interface SysupdateConf {
  fileName: string;
  text: string;
}

export interface SysupdateRequest {
  name: string;
  version: string;
  /** Base URL under which `<name>/SHA256SUMS` and the images are published. */
  bakeryUrl: string;
  /** Verify=yes: sysupdate checks SHA256SUMS.gpg against the host's import keyring. */
  verify: boolean;
  /** Also write the patch-level conf for the version's minor. */
  patchLevel: boolean;
}

export function sysupdateConfs(request: SysupdateRequest): SysupdateConf[] {
  const confs = [{ fileName: `${request.name}.conf`, text: transferText(request, `${request.name}-@v-%a.raw`) }];
  if (request.patchLevel) {
    const minor = minorPrefix(request.version);
    if (minor) {
      confs.push({ fileName: `${request.name}-${minor}.conf`, text: transferText(request, `${request.name}-${minor}.@v-%a.raw`) });
    }
  }
  return confs;
}

/** `v1.31.4+k3s1` → `v1.31`; undefined for versions without a major.minor. */
export function minorPrefix(version: string): string | undefined {
  return /^(v?\d+\.\d+)\./.exec(version)?.[1];
}

function transferText(request: SysupdateRequest, matchPattern: string): string {
  const base = request.bakeryUrl.replace(/\/+$/, '');
  return [
    '[Transfer]',
    `Verify=${request.verify ? 'yes' : 'false'}`,
    '',
    '[Source]',
    'Type=url-file',
    `Path=${base}/${request.name}/`,
    `MatchPattern=${matchPattern}`,
    '',
    '[Target]',
    'InstancesMax=3',
    'Type=regular-file',
    `Path=/opt/extensions/${request.name}`,
    `CurrentSymlink=/etc/extensions/${request.name}.raw`,
    '',
  ].join('\n');
}
