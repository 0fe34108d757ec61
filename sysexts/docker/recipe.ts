/**
 * Docker and containerd from Docker's static binaries. `--without docker` ships containerd alone,
 * `--without containerd` ships docker running against Flatcar's own containerd. (The bakery removed
 * config-cgroups.toml, a file that does not exist; the list below names what the files/ tree ships.)
 */
import type { RecipeEndpoint } from '../../bake/core/endpoints.ts';
import type { Recipe } from '../../bake/sysext/recipe.ts';

const PARTS = {
  docker: {
    binaries: ['docker', 'dockerd', 'docker-init', 'docker-proxy'],
    files: [
      'usr/lib/systemd/system/docker.service',
      'usr/lib/systemd/system/docker.socket',
      'usr/lib/systemd/system/sockets.target.d/10-docker-socket.conf',
      'usr/lib/tmpfiles.d/10-docker.conf',
    ],
  },
  containerd: {
    binaries: ['containerd', 'containerd-shim-runc-v2', 'ctr', 'runc'],
    files: [
      'usr/lib/systemd/system/containerd.service',
      'usr/lib/systemd/system/multi-user.target.d/10-containerd-service.conf',
      'usr/share/containerd/config.toml',
      'usr/share/containerd/config-cgroupfs.toml',
    ],
  },
} as const;

type Part = keyof typeof PARTS;

const DOCKER_DOWNLOAD: RecipeEndpoint = {
  name: 'dockerDownloadUrl',
  flag: '--docker-download-url',
  env: 'BAKE_DOCKER_DOWNLOAD_URL',
  default: 'https://download.docker.com',
  description: 'Docker static binaries',
};

const recipe: Recipe = {
  name: 'docker',
  description: 'Docker engine and containerd (static binaries)',
  versions: {
    kind: 'html-listing',
    endpoint: DOCKER_DOWNLOAD,
    path: '/linux/static/stable/x86_64/',
    pattern: /^docker-(\d+\.\d+\.\d+)\.tgz$/,
  },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: false,
  endpoints: [DOCKER_DOWNLOAD],
  options: [
    {
      name: 'without',
      value: '<part>',
      choices: ['docker', 'containerd'],
      description: 'leave out docker or containerd',
    },
  ],
  async build(api) {
    const url = api.url(DOCKER_DOWNLOAD, `linux/static/stable/${api.names.machine}/docker-${api.version}.tgz`);
    const tree = await api.extract(
      await api.fetch(url, { unverified: 'download.docker.com publishes no checksums for static binaries' }),
      { strip: 1 },
    );
    const without = api.options.without as Part | undefined;
    for (const [part, { binaries }] of Object.entries(PARTS)) {
      if (part === without) continue;
      for (const binary of binaries) await api.install(`${tree}/${binary}`, `usr/bin/${binary}`, 0o755);
    }
    if (without) for (const file of PARTS[without].files) await api.remove(file);
  },
};

export default recipe;
