/**
 * Source builds (keepalived, nvidia-runtime) in a throw-away container through the shared runtime
 * abstraction (podman preferred, docker otherwise). The recipe's script runs with the source at /src,
 * the recipe folder read-only at /recipe, and writes its install tree to /out, which is returned.
 */
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import { ARCHES, type Arch } from '../core/arch.ts';
import { CleanupStack } from '../core/cleanup.ts';
import { detectRuntime, parseRuntimeChoice } from '../core/container.ts';
import { confineTree } from './confine.ts';
import type { ContainerBuild } from './recipe.ts';
import { privatiseTree } from './tree.ts';

export interface ContainerBuildJob extends ContainerBuild {
  recipeDir: string;
  arch: Arch;
  scratch: string;
}

export async function runContainerBuild(ctx: Context, job: ContainerBuildJob): Promise<string> {
  // The build writes into its source, which may share files with the unpack cache.
  await privatiseTree(job.source);
  const out = await mkdtemp(join(job.scratch, 'out-'));
  const runtime = await detectRuntime(ctx, parseRuntimeChoice(process.env.BAKE_CONTAINER_RUNTIME ?? 'auto'));
  await using stack = new CleanupStack(ctx.log);
  ctx.log.info(`building in ${job.image} with ${runtime.name} (${job.script})`);
  await runtime.run(
    stack,
    {
      image: job.image,
      args: ['sh', `/recipe/${job.script}`],
      mounts: [
        { source: job.source, target: '/src' },
        { source: out, target: '/out' },
        { source: job.recipeDir, target: '/recipe', readOnly: true },
      ],
      env: { GOARCH: ARCHES[job.arch].goarch, MACHINE: ARCHES[job.arch].machine, ...job.env },
      network: job.network ?? 'host',
      workdir: '/src',
    },
    { why: `build from source in a container (${job.image})` },
  );
  // /out is a bind mount (nothing is copied out with `cp`), but what the build put there is as hostile as
  // an archive: links out of it, device nodes and set-ID bits are dealt with before a recipe reads it.
  await confineTree(ctx.log, out, `the ${job.image} build's /out`, async (path) => path);
  return out;
}
