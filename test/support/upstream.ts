/**
 * One stand-in upstream per test file: the fixture tree written once, served by the real test mirror,
 * and contexts whose recipe endpoints point at it (sharing one download cache unless asked otherwise).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Context, createContext } from '../../bake/context.ts';
import type { Arch } from '../../bake/core/arch.ts';
import { ENDPOINTS, type EndpointSpec, type Endpoints } from '../../bake/core/endpoints.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { recipeEndpoints } from '../../bake/sysext/catalog.ts';
import { MIRROR_PATHS, type UpstreamOptions, writeUpstream } from './fixtures/upstream.ts';
import { type Mirror, startMirror } from './mirror.ts';

export interface Upstream {
  mirror: Mirror;
  dir: string;
  endpoints: Partial<Endpoints>;
  /** The same endpoints as the environment variables a bake process reads. */
  env: Record<string, string>;
  /** A fresh context (memory logger) against the mirror; `cacheDir` defaults to the shared cache. */
  context(options?: {
    cacheDir?: string;
    bakeryUrl?: string;
    signal?: AbortSignal;
  }): Context & { log: ReturnType<typeof memoryLogger> };
  close(): Promise<void>;
}

/** Endpoint values as the variables that set them, for the engine's endpoints and the recipes' alike. */
export function endpointEnvironment(endpoints: Partial<Endpoints>): Record<string, string> {
  const specs = new Map<string, EndpointSpec>([
    ...Object.entries(ENDPOINTS),
    ...recipeEndpoints().map((spec): [string, EndpointSpec] => [spec.name, spec]),
  ]);
  return Object.fromEntries(
    Object.entries(endpoints).map(([name, value]) => {
      const spec = specs.get(name);
      if (!spec || value === undefined) throw new Error(`no endpoint is named ${name}`);
      return [spec.env, value];
    }),
  );
}

export async function startUpstream(
  arches: readonly Arch[] = ['x86-64', 'arm64'],
  options: UpstreamOptions = {},
): Promise<Upstream> {
  const dir = await mkdtemp(join(tmpdir(), 'bake-upstream-'));
  await writeUpstream(join(dir, 'www'), arches, options);
  const mirror = await startMirror({ root: join(dir, 'www') });
  const endpoints: Partial<Endpoints> = Object.fromEntries(
    Object.entries(MIRROR_PATHS).map(([name, path]) => [name, `${mirror.url}/${path}`]),
  );
  return {
    mirror,
    dir,
    endpoints,
    env: endpointEnvironment(endpoints),
    context(options = {}) {
      const log = memoryLogger();
      const ctx = createContext({
        log,
        cacheDir: options.cacheDir ?? join(dir, 'cache'),
        ...(options.signal ? { signal: options.signal } : {}),
        endpoints: { ...endpoints, bakeryUrl: options.bakeryUrl ?? 'https://bakery.example.test/extensions' },
      });
      return Object.assign(ctx, { log });
    },
    async close() {
      await mirror.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
