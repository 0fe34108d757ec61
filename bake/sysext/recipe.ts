/**
 * What a recipe is: data (version source, arches, reload, options) plus one small `build` hook that gets
 * a narrow helper API. Recipes in sysexts/ import only these types, so they stay readable as data and
 * cannot reach into the engine; everything with side effects goes through the BuildApi.
 */
import type { Arch, ArchNames } from '../core/arch.ts';
import type { Endpoint, KeyEndpoint, RecipeEndpoint } from '../core/endpoints.ts';

/** Where a recipe's upstream versions come from. `match` filters tag names; `stripV` drops a leading v. */
export type VersionSource =
  | { kind: 'github-releases'; repo: string; match?: RegExp; stripV?: boolean }
  | { kind: 'github-tags'; repo: string; match?: RegExp; stripV?: boolean }
  /** `endpoint`: the GitLab instance (default gitlabUrl, gitlab.com). */
  | { kind: 'gitlab-tags'; project: number; endpoint?: Endpoint; match?: RegExp; stripV?: boolean }
  /** Versions scraped from an HTML directory listing: capture group 1 of `pattern` on every href. */
  | { kind: 'html-listing'; endpoint: Endpoint; path: string; pattern: RegExp }
  /**
   * A listing of release branches (capture group 1 of `branch`, from `minimumBranch` on), each with a
   * listing of its own at `branchPath` (`{branch}` replaced) scraped like html-listing (haproxy.org).
   */
  | {
      kind: 'html-branch-listings';
      endpoint: Endpoint;
      path: string;
      branch: RegExp;
      minimumBranch: string;
      branchPath: string;
      pattern: RegExp;
    }
  /** The HashiCorp releases API at `endpoint` (its /v1/releases/<product>). */
  | { kind: 'hashicorp'; product: string; endpoint: Endpoint }
  /** kubernetes/website data/releases/schedule.yaml at `endpoint`: released patches of the supported minors. */
  | { kind: 'kubernetes-schedule'; endpoint: Endpoint }
  /** The version a distribution's package index holds for `package` (for the default arch). */
  | { kind: 'package-index'; repository: PackageRepository; package: string };

/**
 * A distribution package repository: Alpine (`release` a branch such as `latest-stable` or `v3.21`,
 * `repositories` e.g. main, community) or Debian (`release` a suite, `repositories` its components).
 */
export interface PackageRepository {
  kind: 'apk' | 'deb';
  release: string;
  repositories: readonly string[];
}

/**
 * Distribution packages bundled into the sysext so they run on Flatcar: the packages and every package
 * they depend on land below usr/lib/<name>/, their executables get that bundle's ELF interpreter and
 * library path, and are linked from usr/bin.
 */
export interface WrapRequest extends PackageRepository {
  packages: readonly string[];
  /** The version the first package must have in the index; the index is refused otherwise. */
  version?: string;
  /** Dependencies left out on purpose (names as the index spells them). */
  skip?: readonly string[];
  /** Executables to rewrite and link from usr/bin, as paths in the packages (default: the packages' bin/ files). */
  expose?: readonly string[];
}

/** What `--latest` means: the newest version, or the newest patch of each of the newest minors. */
export type LatestPolicy = { kind: 'newest' } | { kind: 'newest-patch-per-minor'; minors?: number };

export interface RecipeOption {
  name: string;
  description: string;
  /** Placeholder for the value (`<version>`); absent for boolean switches. */
  value?: string;
  /** Allowed values, when the option is an enumeration. */
  choices?: readonly string[];
  /** The recipe cannot build without it (no sensible default exists). */
  required?: boolean;
}

/** How a download is checked. Recipes name the upstream checksum file wherever one is published. */
export type Verification =
  /**
   * A checksum file; the entry for `fileName` (default: the download's base name), or its only hash.
   * With `signature`, the checksum file must carry a good detached OpenPGP signature by the key endpoint.
   */
  | { checksumUrl: string; fileName?: string; signature?: { url: string; key: KeyEndpoint } }
  /** The `sha256:` digest GitHub's release API lists for the asset; releases older than the digests warn. */
  | { githubAssetDigest: { repo: string; tag: string } }
  | { sha256: string }
  /** Upstream publishes nothing to check against; the reason is logged. */
  | { unverified: string };

export interface ContainerBuild {
  /** Build image; recipes use the real upstream image, tests substitute a stand-in through options. */
  image: string;
  /** Script in the recipe folder, run with `sh` inside the container. */
  script: string;
  /** Host directory mounted at /src (read-write: builds write into their tree). */
  source: string;
  env?: Record<string, string>;
  /** Builds fetch their toolchain: 'host' networking unless the image has everything. */
  network?: 'none' | 'host';
}

export interface BuildApi {
  readonly name: string;
  readonly version: string;
  readonly arch: Arch;
  /** goarch / machine / elfMachine of the target arch. */
  readonly names: ArchNames;
  readonly options: Readonly<Record<string, string | boolean>>;
  /** An upstream URL: the endpoint's configured base plus `path`. A recipe endpoint must be in the recipe's `endpoints`. */
  url(endpoint: Endpoint, path: string): string;
  /** Downloads into the cache (once) and verifies; returns the local path. Fails closed on mismatch. */
  fetch(url: string, verification: Verification): Promise<string>;
  /**
   * Extracts a tar (any compression) or zip into a fresh scratch directory (or `into`, a directory below
   * one returned earlier, e.g. a second source tree inside the first) and returns it. An archive holding
   * device nodes or links leading out of it is refused; hard links become files, set-ID bits are cleared.
   */
  extract(archive: string, options?: { strip?: number; into?: string }): Promise<string>;
  /**
   * A version pin upstream keeps in a file (containerd's script/setup/runc-version), trimmed; refused
   * unless it matches `pattern`, because it goes into the next download URL.
   */
  readVersionPin(url: string, pattern: RegExp): Promise<string>;
  /** Whether a path in an extracted tree exists (upstream layouts differ between versions and arches). */
  exists(path: string): Promise<boolean>;
  /**
   * Copies a file into the sysext root at `to` (relative, e.g. `usr/bin/kubectl`) with `mode`. `from` is
   * a file `fetch` returned or a path inside a tree from `extract` or `buildInContainer`, resolved inside
   * that tree. No write into the root goes through a link, here or in the other writing helpers.
   */
  install(from: string, to: string, mode?: number): Promise<void>;
  /** Copies a directory's contents (from an extracted or built tree, as for install) into the root below `to`. */
  installTree(from: string, to: string): Promise<void>;
  symlink(target: string, at: string): Promise<void>;
  writeFile(at: string, content: string, mode?: number): Promise<void>;
  /** Copies the recipe's optional static files from `sysexts/<name>/<folder>/` into the root. */
  copyStatic(folder: string): Promise<void>;
  /** Removes a path from the sysext root; fails when it does not exist (a typo must not pass silently). */
  remove(at: string): Promise<void>;
  /** The newest version of another upstream (CNI plugins, NATS) for options that default to latest. */
  newestVersion(source: VersionSource): Promise<string>;
  /** Bundles distribution packages with their dependencies (see WrapRequest). */
  wrapPackages(request: WrapRequest): Promise<void>;
  /** Runs a recipe build script in a container; returns the host directory mounted at /out. */
  buildInContainer(build: ContainerBuild): Promise<string>;
  /**
   * Runs independent steps (downloads, installs into different places) concurrently, so a recipe with
   * several upstream files waits for one round trip instead of one after another. Every step finishes
   * before the first failure (in the order given) is reported, so nothing is still writing when the
   * build cleans up.
   */
  concurrently(steps: ReadonlyArray<() => Promise<void>>): Promise<void>;
  /** Semver-ish comparison (`sort -V`): negative when a < b. */
  compareVersions(a: string, b: string): number;
  log(message: string): void;
}

export interface Recipe {
  name: string;
  description: string;
  versions: VersionSource;
  latest?: LatestPolicy;
  arches: readonly Arch[];
  /** EXTENSION_RELOAD_MANAGER=1 in extension-release: the image ships units systemd must load on merge. */
  reload: boolean;
  /** Whether every upstream artefact is checked against an upstream checksum (shown by `sysext list`). */
  verifiesChecksums: boolean;
  /** Also write `<name>-vX.Y.conf` sysupdate configs that follow patch releases only. */
  patchLevelSysupdate?: boolean;
  options?: readonly RecipeOption[];
  /**
   * The upstreams this recipe alone (or with the users of one sysexts/ helper) fetches from, beyond the
   * engine's (GitHub, GitLab, package mirrors): each becomes a flag and an environment variable.
   */
  endpoints?: readonly RecipeEndpoint[];
  /** Lays the upstream artefacts out below the root; static `files/` are already there. */
  build(api: BuildApi): Promise<void>;
}
