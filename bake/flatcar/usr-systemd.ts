/**
 * What a release's systemd can do with signed dm-verity sysexts, decided from what its USR holds. Pure:
 * the caller lists USR's directories (flatcar/usr-release.ts) and hands the names in.
 *
 * How systemd checks a signed sysext DDI: it passes the signature
 * to the kernel first (`CONFIG_DM_VERITY_VERIFY_ROOTHASH_SIG`, which no Flatcar kernel has), then checks it
 * in userspace against the PEM certificates in `/etc/verity.d`, `/run/verity.d`, `/usr/local/lib/verity.d`
 * and `/usr/lib/verity.d` (the first file of a name wins). By default sysext merges unsigned images too: only
 * an image policy that allows nothing but `signed` refuses them.
 */

/** The policy that makes systemd-sysext refuse unsigned and unprotected images (a `verity` in it lets them in). */
export const SIGNED_ONLY_POLICY = 'root=signed+absent:usr=signed+absent';

/** Since which systemd version each piece exists. */
export const SYSTEMD_SINCE = {
  /** Signed sysext DDIs, checked in userspace against `verity.d/*.crt` when the kernel cannot. */
  verityCertificates: 250,
  /** `systemd-sysext --image-policy=`. */
  imagePolicy: 254,
  /** `ImagePolicy=` in `[SysExt]` of sysext.conf(.d): the service and a manual `systemd-sysext refresh` both read it. */
  sysextConfImagePolicy: 259,
} as const;

/** USR-relative directories where systemd's private library lives: lib (Debian, Fedora) or lib64 (Gentoo's, so Flatcar's, amd64). */
export const SYSTEMD_LIBRARY_DIRS = ['/lib/systemd', '/lib64/systemd'] as const;
/** Where Flatcar keeps its own sysexts (docker, containerd) and, since 4628, the certificate that signs them. */
export const FLATCAR_SYSEXT_DIR = '/share/flatcar/sysext';
export const USR_VERITY_DIR = '/lib/verity.d';

/** `libsystemd-shared-257.so` (Debian), `libsystemd-shared-257.9.so`, `libsystemd-shared-255.8-r1.so`. */
const SHARED_LIBRARY = /^libsystemd-shared-(\d+)(?:[.~-][\w.~+-]*)?\.so$/;

/** The systemd major version a directory listing shows, or undefined when no libsystemd-shared is in it. */
export function systemdVersionFrom(names: readonly string[]): number | undefined {
  const versions = names.flatMap((name) => {
    const match = SHARED_LIBRARY.exec(name);
    return match ? [Number(match[1])] : [];
  });
  return versions.length > 0 ? Math.max(...versions) : undefined;
}

/** A file bake writes on ROOT for the policy: path as the booted system sees it, and its text. */
export interface PolicyFile {
  path: string;
  text: string;
}

/**
 * Up to 258 only the command line carries a policy, so the service's ExecStart= and ExecReload= are replaced
 * (a manual `systemd-sysext refresh` still uses the default policy); from 259 sysext.conf.d carries it.
 */
export function signedOnlyPolicyFile(systemd: number): PolicyFile {
  if (systemd >= SYSTEMD_SINCE.sysextConfImagePolicy) {
    return {
      path: '/etc/systemd/sysext.conf.d/50-bake-require-signed.conf',
      text: `[SysExt]\nImagePolicy=${SIGNED_ONLY_POLICY}\n`,
    };
  }
  const refresh = `systemd-sysext refresh --image-policy=${SIGNED_ONLY_POLICY}`;
  return {
    path: '/etc/systemd/system/systemd-sysext.service.d/50-bake-require-signed.conf',
    text: `[Service]\nExecStart=\nExecStart=${refresh}\nExecReload=\nExecReload=${refresh}\n`,
  };
}

/** What the release's USR shows about signed sysexts. */
export interface UsrTrustFacts {
  systemd: number | undefined;
  /** Certificates the release itself trusts (`/usr/lib/verity.d`), by file name. */
  usrCertificates: readonly string[];
  /** The release's own sysexts (`/usr/share/flatcar/sysext`), by file name. */
  ownSysexts: readonly string[];
}

export interface TrustRequest {
  /** The names the certificates get in /etc/verity.d (`<name>.crt`). */
  certificateNames: readonly string[];
  requireSigned: boolean;
}

/**
 * Why the release cannot honour the request, or undefined when it can. Flatcar signs its own sysexts from
 * 4628 on and then ships their certificate in /usr/lib/verity.d; before that (stable 4593) docker and
 * containerd are plain squashfs, which a signed-only policy refuses, and systemd 257 then merges nothing.
 */
export function trustProblem(facts: UsrTrustFacts, request: TrustRequest): string | undefined {
  const { systemd } = facts;
  if (systemd === undefined) return 'its USR has no libsystemd-shared, so its systemd version is unknown';
  if (systemd < SYSTEMD_SINCE.verityCertificates)
    return `its systemd ${systemd} checks no sysext signatures (systemd ${SYSTEMD_SINCE.verityCertificates} or newer does)`;
  const shadowed = request.certificateNames.find((name) => facts.usrCertificates.includes(`${name}.crt`));
  if (shadowed !== undefined)
    return `/etc/verity.d/${shadowed}.crt would hide the release's own /usr/lib/verity.d/${shadowed}.crt`;
  if (!request.requireSigned) return undefined;
  if (systemd < SYSTEMD_SINCE.imagePolicy)
    return `its systemd ${systemd} has no image policies (systemd ${SYSTEMD_SINCE.imagePolicy} or newer does)`;
  const ownRaw = facts.ownSysexts.filter((name) => name.endsWith('.raw'));
  if (ownRaw.length > 0 && facts.usrCertificates.length === 0)
    return `its own sysexts (${ownRaw.join(', ')}) are unsigned: the policy would refuse them (and systemd 257 then merges no sysext at all)`;
  return undefined;
}
