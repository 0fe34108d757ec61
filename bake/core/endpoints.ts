/**
 * Every remote endpoint bake talks to, as data: its flag, its environment variable and its real default.
 * Tests and air-gapped users point them at a mirror. The engine's endpoints are this table; an upstream
 * only one sysext recipe (or one sysexts/ helper) uses is declared there, as a RecipeEndpoint. The CLI
 * builds the flags from both.
 */
export interface EndpointSpec {
  flag: string;
  env: string;
  default: string;
  description: string;
}

/** Whose key a key endpoint names, and its primary fingerprint, pinned while the endpoint has its real default. */
export interface PinnedKey {
  owner: string;
  fingerprint?: string;
}

/**
 * An endpoint a recipe declares. `name` is the camelCase of the flag (`--k8s-download-url` →
 * `k8sDownloadUrl`): the key of its value in Context.endpoints. `pinnedKey` makes it a key endpoint.
 */
export interface RecipeEndpoint extends EndpointSpec {
  name: string;
  pinnedKey?: PinnedKey;
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
    description: 'sysext bakery base URL',
  },
  bakeryKey: {
    flag: '--bakery-key',
    env: 'BAKE_BAKERY_KEY',
    // The real bakery signs nothing yet: without a key, a fetched list and conf are checked as unsigned.
    default: '',
    description: "public key (URL or file) that signs the bakery's SHA256SUMS as SHA256SUMS.gpg; none by default",
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
  // The upstreams many sysext recipes share; one recipe's own upstream is declared by that recipe.
  githubUrl: {
    flag: '--github-url',
    env: 'BAKE_GITHUB_URL',
    default: 'https://github.com',
    description: 'GitHub (release downloads, source archives)',
  },
  githubApiUrl: {
    flag: '--github-api-url',
    env: 'BAKE_GITHUB_API_URL',
    default: 'https://api.github.com',
    description: 'GitHub API (release and tag lists; GH_TOKEN is sent when set)',
  },
  gitlabUrl: {
    flag: '--gitlab-url',
    env: 'BAKE_GITLAB_URL',
    default: 'https://gitlab.com',
    description: 'GitLab (tag lists)',
  },
  // bake names no package mirror: Alpine's is yours to name; Debian's defaults to the one this host's apt uses.
  alpineUrl: {
    flag: '--alpine-url',
    env: 'BAKE_ALPINE_URL',
    default: '',
    description: 'Alpine package mirror (base of <branch>/<repository>/<arch>/APKINDEX.tar.gz)',
  },
  debianUrl: {
    flag: '--debian-url',
    env: 'BAKE_DEBIAN_URL',
    default: '',
    description: "Debian package mirror (base of dists/ and pool/; default: the mirror of this host's apt)",
  },
  debianKeyring: {
    flag: '--debian-keyring',
    env: 'BAKE_DEBIAN_KEYRING',
    default: '/usr/share/keyrings/debian-archive-keyring.gpg',
    description:
      "keys a Debian suite's Release must be signed with (file or URL; default: the host's debian-archive-keyring)",
  },
} satisfies Record<string, EndpointSpec>;

export type EndpointName = keyof typeof ENDPOINTS;
/** An engine endpoint by name, or a recipe's by its declaration. */
export type Endpoint = EndpointName | RecipeEndpoint;
/**
 * The engine's endpoints, resolved; beside them, the values given (by flag, or by a test) for recipe
 * endpoints, by name. endpointValue resolves either.
 */
export type Endpoints = Record<EndpointName, string> & { [recipeEndpoint: string]: string | undefined };

/** The engine endpoints that name an OpenPGP key; a recipe's key endpoint carries its pinnedKey. */
export type KeyEndpoint = 'signingKey' | 'bakeryKey' | (RecipeEndpoint & { pinnedKey: PinnedKey });

/** A key at the default URL that is not the pinned one is refused. */
export const PINNED_KEYS: Record<'signingKey' | 'bakeryKey', PinnedKey> = {
  signingKey: { owner: 'the Flatcar image signing key', fingerprint: 'F88CFEDEFF29A5B4D9523864E25D9AED0593B34A' },
  // The bakery publishes no key yet: --bakery-key names one, trusted as given.
  bakeryKey: { owner: "the bakery's signing key" },
};

export function endpointSpec(endpoint: Endpoint): EndpointSpec {
  return typeof endpoint === 'string' ? ENDPOINTS[endpoint] : endpoint;
}

/** An endpoint's value: the engine's as resolved; a recipe's as given, else its variable, else its default. */
export function endpointValue(endpoints: Endpoints, endpoint: Endpoint, env = process.env): string {
  if (typeof endpoint === 'string') return endpoints[endpoint];
  return endpoints[endpoint.name] ?? env[endpoint.env] ?? endpoint.default;
}

/** How to point bake elsewhere for one endpoint, for hints: `--releases-json URL (or BAKE_RELEASES_JSON)`. */
export function endpointHint(endpoint: Endpoint): string {
  const { flag, env } = endpointSpec(endpoint);
  return `${flag} URL (or ${env})`;
}

/**
 * The engine's endpoints: flag value, else environment variable, else the real default. Values given for
 * recipe endpoints are kept as given (endpointValue resolves those when a recipe uses them).
 */
export function resolveEndpoints(given: Partial<Endpoints>, env = process.env): Endpoints {
  const entries = Object.entries(ENDPOINTS).map(([name, spec]) => {
    const value = given[name] ?? env[spec.env] ?? spec.default;
    return [name, value];
  });
  return { ...given, ...Object.fromEntries(entries) } as Endpoints;
}

export function defaultCacheDir(env = process.env): string {
  if (env.BAKE_CACHE_DIR) return env.BAKE_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || `${env.HOME ?? '/root'}/.cache`;
  return `${base}/bake`;
}
