/**
 * containerd's static release with the runc its release tag pins (script/setup/runc-version), both checked
 * against upstream checksums. The shipped config matches the release line: containerd 2 reads config
 * version 3, 1.x reads version 2 (the bakery shipped version 3 to both). `latest` is the newest patch of
 * each of the five newest minors, as the bakery releases it.
 */
import type { RecipeEndpoint } from '../../bake/core/endpoints.ts';
import type { BuildApi, Recipe } from '../../bake/sysext/recipe.ts';

/** The runc CRI options block per config version: systemd cgroups, or cgroupfs in the alternative file. */
const CRI_RUNC_OPTIONS = {
  3: "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]",
  2: '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
} as const;

const GITHUB_RAW: RecipeEndpoint = {
  name: 'githubRawUrl',
  flag: '--github-raw-url',
  env: 'BAKE_GITHUB_RAW_URL',
  default: 'https://raw.githubusercontent.com',
  description: "files in GitHub repositories at a tag (containerd's runc pin)",
};

const recipe: Recipe = {
  name: 'containerd',
  description: 'containerd container runtime with its matching runc',
  versions: { kind: 'github-releases', repo: 'containerd/containerd', match: /^v\d+\.\d+\.\d+$/, stripV: true },
  latest: { kind: 'newest-patch-per-minor', minors: 5 },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: true,
  endpoints: [GITHUB_RAW],
  async build(api) {
    await api.concurrently([() => installContainerd(api), () => installRunc(api), () => writeConfigs(api)]);
  },
};

export default recipe;

async function installContainerd(api: BuildApi): Promise<void> {
  const url = api.url(
    'githubUrl',
    `containerd/containerd/releases/download/v${api.version}/containerd-static-${api.version}-linux-${api.names.goarch}.tar.gz`,
  );
  const tree = await api.extract(await api.fetch(url, { checksumUrl: `${url}.sha256sum` }));
  await api.installTree(`${tree}/bin`, 'usr/bin');
}

async function installRunc(api: BuildApi): Promise<void> {
  const pinUrl = api.url(GITHUB_RAW, `containerd/containerd/refs/tags/v${api.version}/script/setup/runc-version`);
  const runc = await api.readVersionPin(pinUrl, /^v\d+\.\d+\.\d+(-rc\.\d+)?$/);
  const base = `opencontainers/runc/releases/download/${runc}`;
  const binary = await api.fetch(api.url('githubUrl', `${base}/runc.${api.names.goarch}`), {
    checksumUrl: api.url('githubUrl', `${base}/runc.sha256sum`),
  });
  await api.install(binary, 'usr/bin/runc', 0o755);
}

async function writeConfigs(api: BuildApi): Promise<void> {
  const configVersion = api.compareVersions(api.version, '2.0.0') >= 0 ? 3 : 2;
  for (const [file, systemdCgroup] of [
    ['config.toml', true],
    ['config-cgroupfs.toml', false],
  ] as const) {
    const text = [
      `# Defaults of the containerd ${api.version} sysext. To change them, copy this file to /etc and set`,
      '# CONTAINERD_CONFIG=<the copy> in /etc/default/containerd.',
      `version = ${configVersion}`,
      'oom_score = -999',
      '',
      CRI_RUNC_OPTIONS[configVersion],
      `  SystemdCgroup = ${systemdCgroup}`,
      '',
    ].join('\n');
    await api.writeFile(`usr/share/containerd/${file}`, text);
  }
}
