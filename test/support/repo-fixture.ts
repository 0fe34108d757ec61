/**
 * What the repository tests build with instead of the real recipes (which fetch from the internet):
 * a tiny sysext per version (test/support/fixtures/sysext.ts) whose /usr/bin/<name> prints its version, and
 * bake's own sysupdate confs (bake/sysext/sysupdate.ts). An upstream whose "latest" the test moves.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildRequest, BuiltImage, SysextBuilder } from '../../bake/repo/build.ts';
import type { Upstream } from '../../bake/repo/plan.ts';
import { sysupdateConfs } from '../../bake/sysext/sysupdate.ts';
import { makeSysextImage } from './fixtures/sysext.ts';

export interface LocalBuilder {
  build: SysextBuilder;
  /** Every request the builder got, in order. */
  requests: BuildRequest[];
  /** Names whose build fails (a broken upstream download, say). */
  failing: Set<string>;
}

export function localBuilder(): LocalBuilder {
  const requests: BuildRequest[] = [];
  const failing = new Set<string>();
  const build = async (request: BuildRequest): Promise<BuiltImage> => {
    requests.push(request);
    if (failing.has(request.name))
      throw new Error(`${request.name} ${request.version}: upstream download failed (test)`);
    await makeSysextImage(request.outputFile, {
      name: request.name,
      arch: request.arch,
      files: { [`usr/bin/${request.name}`]: `#!/bin/sh\necho ${request.name} ${request.version}\n` },
    });
    const confs = sysupdateConfs({
      name: request.name,
      version: request.version,
      patchLevel: false,
      ...request.sysupdate,
    });
    const paths: string[] = [];
    for (const conf of confs) {
      const path = join(request.outputDir, conf.fileName);
      await writeFile(path, conf.text);
      paths.push(path);
    }
    return { image: request.outputFile, confs: paths };
  };
  return { build, requests, failing };
}

/** An upstream the test controls: `latest[name]` is what `<name> latest` expands to; unknown names fail. */
export function stubUpstream(latest: Record<string, string[]>): Upstream {
  return {
    async latestVersions(name) {
      const versions = latest[name];
      if (!versions) throw new Error(`cannot list ${name} releases: 503 from upstream (test)`);
      return versions;
    },
  };
}
