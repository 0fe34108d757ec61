/**
 * wasmCloud host and the wash CLI (static musl binaries) with the NATS server it needs, newest unless
 * --nats-version (the bakery's help said --nats-version while its code read --nats; here both are the same).
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';

const recipe: Recipe = {
  name: 'wasmcloud',
  description: 'wasmCloud host, wash CLI and NATS server',
  versions: { kind: 'github-releases', repo: 'wasmCloud/wasmCloud', match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: false,
  options: [{ name: 'nats-version', value: '<version>', description: 'NATS server release (default: the newest)' }],
  async build(api) {
    const base = `wasmCloud/wasmCloud/releases/download/${api.version}`;
    for (const tool of ['wasmcloud', 'wash']) {
      const url = api.url('githubUrl', `${base}/${tool}-${api.names.machine}-unknown-linux-musl`);
      await api.install(
        await api.fetch(url, { unverified: 'wasmCloud releases publish no checksum file' }),
        `usr/bin/${tool}`,
        0o755,
      );
    }
    const nats = String(
      api.options['nats-version'] ??
        (await api.newestVersion({ kind: 'github-releases', repo: 'nats-io/nats-server', match: /^v\d+\.\d+\.\d+$/ })),
    );
    const natsBase = `nats-io/nats-server/releases/download/${nats}`;
    const url = api.url('githubUrl', `${natsBase}/nats-server-${nats}-linux-${api.names.goarch}.tar.gz`);
    const tree = await api.extract(
      await api.fetch(url, { checksumUrl: api.url('githubUrl', `${natsBase}/SHA256SUMS`) }),
      { strip: 1 },
    );
    await api.install(`${tree}/nats-server`, 'usr/bin/nats-server', 0o755);
  },
};

export default recipe;
