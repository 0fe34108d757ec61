/**
 * Every remote endpoint bake talks to, as data: its flag, its environment variable and its real default.
 * Tests and air-gapped users point them at a mirror. Commands add their rows here; the CLI builds the
 * flags from this table.
 */
export interface EndpointSpec {
  flag: string;
  env: string;
  default: string;
  description: string;
}

export const ENDPOINTS = {
  releaseUrl: {
    flag: '--release-url',
    env: 'BAKE_RELEASE_URL',
    default: 'https://{channel}.release.flatcar-linux.net/{board}/{version}',
    description: 'release directory template ({channel}, {board}, {version})',
  },
  releasesJson: {
    flag: '--releases-json',
    env: 'BAKE_RELEASES_JSON',
    default: 'https://www.flatcar.org/releases-json/releases.json',
    description: 'releases.json listing every Flatcar release and its channel',
  },
  signingKey: {
    flag: '--signing-key',
    env: 'BAKE_SIGNING_KEY',
    default: 'https://www.flatcar.org/security/image-signing-key/Flatcar_Image_Signing_Key.asc',
    description: 'image signing key (URL or file); a key you name is trusted as given',
  },
  bakeryUrl: {
    flag: '--bakery-url',
    env: 'BAKE_BAKERY_URL',
    default: 'https://extensions.flatcar.org/extensions',
    description: 'sysext bakery base URL for --fetch',
  },
  scriptsTarballUrl: {
    flag: '--scripts-tarball-url',
    env: 'BAKE_SCRIPTS_TARBALL_URL',
    default: 'https://github.com/flatcar/scripts/archive/refs/tags/{tag}.tar.gz',
    description: 'flatcar/scripts source tarball for the SDK vendor route ({tag} = <channel>-<version>)',
  },
  scriptsFileUrl: {
    flag: '--scripts-file-url',
    env: 'BAKE_SCRIPTS_FILE_URL',
    default: 'https://raw.githubusercontent.com/flatcar/scripts/{tag}/{path}',
    description: 'one flatcar/scripts file at a tag, for native vendor templates ({tag}, {path})',
  },
  sdkImage: {
    flag: '--sdk-image',
    env: 'BAKE_SDK_IMAGE',
    default: 'ghcr.io/flatcar/flatcar-sdk-all:{sdkVersion}',
    description: 'Flatcar SDK container image ({sdkVersion} = FLATCAR_SDK_VERSION, + as -)',
  },
} satisfies Record<string, EndpointSpec>;

export type EndpointName = keyof typeof ENDPOINTS;
export type Endpoints = Record<EndpointName, string>;

/** The primary fingerprint of the Flatcar image signing key, pinned for the default key URL. */
export const FLATCAR_SIGNING_KEY_FINGERPRINT = 'F88CFEDEFF29A5B4D9523864E25D9AED0593B34A';

/** Flag value, else environment variable, else the real default. */
export function resolveEndpoints(flags: Partial<Record<EndpointName, string | undefined>>, env = process.env): Endpoints {
  const entries = Object.entries(ENDPOINTS).map(([name, spec]) => {
    const value = flags[name as EndpointName] ?? env[spec.env] ?? spec.default;
    return [name, value];
  });
  return Object.fromEntries(entries) as Endpoints;
}

export function defaultCacheDir(env = process.env): string {
  if (env.BAKE_CACHE_DIR) return env.BAKE_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || `${env.HOME ?? '/root'}/.cache`;
  return `${base}/bake`;
}
