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
  // Upstreams of the sysext recipes (bake sysext); tests point them at a local mirror.
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
  gitlabNicUrl: {
    flag: '--gitlab-nic-url',
    env: 'BAKE_GITLAB_NIC_URL',
    default: 'https://gitlab.nic.cz',
    description: 'CZ.NIC GitLab (BIRD tags and source archives)',
  },
  hashicorpApiUrl: {
    flag: '--hashicorp-api-url',
    env: 'BAKE_HASHICORP_API_URL',
    default: 'https://api.releases.hashicorp.com',
    description: 'HashiCorp releases API',
  },
  k8sScheduleUrl: {
    flag: '--k8s-schedule-url',
    env: 'BAKE_K8S_SCHEDULE_URL',
    default: 'https://raw.githubusercontent.com/kubernetes/website/main/data/releases/schedule.yaml',
    description: 'Kubernetes release schedule (supported minors and their patches)',
  },
  k8sDownloadUrl: {
    flag: '--k8s-download-url',
    env: 'BAKE_K8S_DOWNLOAD_URL',
    default: 'https://dl.k8s.io',
    description: 'Kubernetes binaries',
  },
  dockerDownloadUrl: {
    flag: '--docker-download-url',
    env: 'BAKE_DOCKER_DOWNLOAD_URL',
    default: 'https://download.docker.com',
    description: 'Docker static binaries',
  },
  crioDownloadUrl: {
    flag: '--crio-download-url',
    env: 'BAKE_CRIO_DOWNLOAD_URL',
    default: 'https://storage.googleapis.com/cri-o',
    description: 'CRI-O release bundles',
  },
  falcoDownloadUrl: {
    flag: '--falco-download-url',
    env: 'BAKE_FALCO_DOWNLOAD_URL',
    default: 'https://download.falco.org',
    description: 'Falco packages',
  },
  tailscaleDownloadUrl: {
    flag: '--tailscale-download-url',
    env: 'BAKE_TAILSCALE_DOWNLOAD_URL',
    default: 'https://pkgs.tailscale.com',
    description: 'Tailscale packages',
  },
  githubRawUrl: {
    flag: '--github-raw-url',
    env: 'BAKE_GITHUB_RAW_URL',
    default: 'https://raw.githubusercontent.com',
    description: "files in GitHub repositories at a tag (containerd's runc pin)",
  },
  // HashiCorp zips (consul, nomad, vault): SHA256SUMS per release, signed with HashiCorp's key.
  hashicorpDownloadUrl: {
    flag: '--hashicorp-download-url',
    env: 'BAKE_HASHICORP_DOWNLOAD_URL',
    default: 'https://releases.hashicorp.com',
    description: 'HashiCorp release zips and their signed SHA256SUMS',
  },
  hashicorpKey: {
    flag: '--hashicorp-key',
    env: 'BAKE_HASHICORP_KEY',
    default: 'https://www.hashicorp.com/.well-known/pgp-key.txt',
    description: "HashiCorp's release signing key (URL or file); a key you name is trusted as given",
  },
  haproxyUrl: {
    flag: '--haproxy-url',
    env: 'BAKE_HAPROXY_URL',
    default: 'https://www.haproxy.org',
    description: 'HAProxy source releases and their listings',
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
export type Endpoints = Record<EndpointName, string>;

/** The endpoints that name an OpenPGP key. */
export type KeyEndpoint = 'signingKey' | 'hashicorpKey' | 'bakeryKey';

/**
 * Whose key each key endpoint names, and its primary fingerprint, pinned while the endpoint has its real
 * default: a key at the default URL that is not this one is refused.
 */
export const PINNED_KEYS: Record<KeyEndpoint, { owner: string; fingerprint?: string }> = {
  signingKey: { owner: 'the Flatcar image signing key', fingerprint: 'F88CFEDEFF29A5B4D9523864E25D9AED0593B34A' },
  hashicorpKey: { owner: "HashiCorp's release signing key", fingerprint: 'C874011F0AB405110D02105534365D9472D7468F' },
  // The bakery publishes no key yet: --bakery-key names one, trusted as given.
  bakeryKey: { owner: "the bakery's signing key" },
};

/** How to point bake elsewhere for one endpoint, for hints: `--releases-json URL (or BAKE_RELEASES_JSON)`. */
export function endpointHint(name: EndpointName): string {
  const { flag, env } = ENDPOINTS[name];
  return `${flag} URL (or ${env})`;
}

/** Flag value, else environment variable, else the real default. */
export function resolveEndpoints(
  flags: Partial<Record<EndpointName, string | undefined>>,
  env = process.env,
): Endpoints {
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
