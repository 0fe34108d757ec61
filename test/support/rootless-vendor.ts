/**
 * Runs bake's vendor step on its own (the native route), for tests that run it as an ordinary user (a
 * child process under runuser). Argument: JSON `{ job, cacheDir, endpoints }`; prints the outputs as JSON.
 * The verbose log on stderr shows every command it ran.
 */
import { createContext } from '../../bake/context.ts';
import type { Endpoints } from '../../bake/core/endpoints.ts';
import type { VendorJob } from '../../bake/vendor/index.ts';
import { produceAsPlanned } from './vendor-fixture.ts';

export interface RootlessVendorRequest {
  job: VendorJob;
  cacheDir: string;
  endpoints: Partial<Endpoints>;
}

const request = JSON.parse(process.argv[2]!) as RootlessVendorRequest;
const ctx = createContext({ verbose: true, cacheDir: request.cacheDir, endpoints: request.endpoints });
process.stdout.write(JSON.stringify(await produceAsPlanned(ctx, request.job)));
