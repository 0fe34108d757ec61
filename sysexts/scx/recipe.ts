/**
 * sched_ext schedulers, built from the release tag's source with cargo in Alpine (build.sh). Every
 * scheduler the release builds ships in usr/bin; `--scheduler` picks the one scx.service runs
 * (usr/share/scx/scx; /etc/default/scx overrides it on the host).
 */
import type { Recipe } from '../../bake/sysext/recipe.ts';
import { ALPINE_IMAGES, buildImageOption, buildInImage, unpackTagArchive } from '../_shared/source-build.ts';

const SCHEDULERS = ['scx_bpfland', 'scx_flash', 'scx_lavd', 'scx_layered', 'scx_p2dq', 'scx_rustland', 'scx_rusty'];

const recipe: Recipe = {
  name: 'scx',
  description: 'sched_ext BPF CPU schedulers (built from source)',
  versions: { kind: 'github-releases', repo: 'sched-ext/scx', match: /^v\d+\.\d+\.\d+$/ },
  arches: ['x86-64', 'arm64'],
  reload: true,
  verifiesChecksums: false,
  options: [
    {
      name: 'scheduler',
      value: '<name>',
      choices: SCHEDULERS,
      description: 'the scheduler scx.service starts (default: scx_rusty)',
    },
    buildImageOption('Alpine 3.21 for the arch'),
  ],
  async build(api) {
    const url = api.url('githubUrl', `sched-ext/scx/archive/refs/tags/${api.version}.tar.gz`);
    const source = await unpackTagArchive(api, url, 'GitHub');
    const out = await buildInImage(api, source, ALPINE_IMAGES);
    const scheduler = String(api.options.scheduler ?? 'scx_rusty');
    // Installed by name first: a scheduler this release does not build fails here, not at boot.
    await api.install(`${out}/usr/bin/${scheduler}`, `usr/bin/${scheduler}`, 0o755);
    await api.installTree(`${out}/usr/bin`, 'usr/bin');
    await api.writeFile('usr/share/scx/scx', `SCX_SCHEDULER=${scheduler}\nSCX_FLAGS=\n`);
  },
};

export default recipe;
