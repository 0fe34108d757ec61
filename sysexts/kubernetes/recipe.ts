/**
 * kubeadm, kubelet and kubectl from dl.k8s.io, each checked against its .sha256, plus the CNI plugins
 * (newest release unless --cni-version). The plugins live in usr/libexec/cni and are copied to a
 * writable /opt/cni/bin on first boot, because CNI providers (Calico, Cilium) install theirs there too.
 */
import type { BuildApi, Recipe } from '../../bake/sysext/recipe.ts';
import { installCniPlugins, newestCniVersion } from '../_shared/cni.ts';

const BINARIES = ['kubeadm', 'kubelet', 'kubectl'];

const recipe: Recipe = {
  name: 'kubernetes',
  description: 'Kubernetes node: kubeadm, kubelet, kubectl and CNI plugins',
  versions: { kind: 'kubernetes-schedule' },
  latest: { kind: 'newest-patch-per-minor' },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: true,
  patchLevelSysupdate: true,
  options: [{ name: 'cni-version', value: '<version>', description: 'CNI plugins release (default: the newest)' }],
  async build(api) {
    await api.concurrently([...BINARIES.map((binary) => () => installBinary(api, binary)), () => installPlugins(api)]);
  },
};

export default recipe;

async function installBinary(api: BuildApi, binary: string): Promise<void> {
  const url = api.url('k8sDownloadUrl', `${api.version}/bin/linux/${api.names.goarch}/${binary}`);
  await api.install(await api.fetch(url, { checksumUrl: `${url}.sha256` }), `usr/bin/${binary}`, 0o755);
}

async function installPlugins(api: BuildApi): Promise<void> {
  const version = String(api.options['cni-version'] ?? (await newestCniVersion(api)));
  await installCniPlugins(api, version, 'usr/libexec/cni');
}
