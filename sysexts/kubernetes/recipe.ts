/**
 * kubeadm, kubelet and kubectl from dl.k8s.io, each checked against its .sha256, plus the CNI plugins
 * (newest release unless --cni-version). The plugins live in usr/libexec/cni and are copied to a
 * writable /opt/cni/bin on first boot, because CNI providers (Calico, Cilium) install theirs there too.
 */
import type { RecipeEndpoint } from '../../bake/core/endpoints.ts';
import type { BuildApi, Recipe } from '../../bake/sysext/recipe.ts';
import { installCniPlugins, newestCniVersion } from '../_shared/cni.ts';

const BINARIES = ['kubeadm', 'kubelet', 'kubectl'];

const K8S_SCHEDULE: RecipeEndpoint = {
  name: 'k8sScheduleUrl',
  flag: '--k8s-schedule-url',
  env: 'BAKE_K8S_SCHEDULE_URL',
  default: 'https://raw.githubusercontent.com/kubernetes/website/main/data/releases/schedule.yaml',
  description: 'Kubernetes release schedule (supported minors and their patches)',
};

const K8S_DOWNLOAD: RecipeEndpoint = {
  name: 'k8sDownloadUrl',
  flag: '--k8s-download-url',
  env: 'BAKE_K8S_DOWNLOAD_URL',
  default: 'https://dl.k8s.io',
  description: 'Kubernetes binaries',
};

const recipe: Recipe = {
  name: 'kubernetes',
  description: 'Kubernetes node: kubeadm, kubelet, kubectl and CNI plugins',
  versions: { kind: 'kubernetes-schedule', endpoint: K8S_SCHEDULE },
  latest: { kind: 'newest-patch-per-minor' },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: true,
  endpoints: [K8S_SCHEDULE, K8S_DOWNLOAD],
  patchLevelSysupdate: true,
  options: [{ name: 'cni-version', value: '<version>', description: 'CNI plugins release (default: the newest)' }],
  async build(api) {
    await api.concurrently([...BINARIES.map((binary) => () => installBinary(api, binary)), () => installPlugins(api)]);
  },
};

export default recipe;

async function installBinary(api: BuildApi, binary: string): Promise<void> {
  const url = api.url(K8S_DOWNLOAD, `${api.version}/bin/linux/${api.names.goarch}/${binary}`);
  await api.install(await api.fetch(url, { checksumUrl: `${url}.sha256` }), `usr/bin/${binary}`, 0o755);
}

async function installPlugins(api: BuildApi): Promise<void> {
  const version = String(api.options['cni-version'] ?? (await newestCniVersion(api)));
  await installCniPlugins(api, version, 'usr/libexec/cni');
}
