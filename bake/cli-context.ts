/**
 * The flags every command shares (--verbose, --json, --dry-run, --cache-dir, the endpoint flags) and the
 * Context built from them. Commands add these to their commander Command with addCommonOptions.
 */
import { type Command, Option } from 'commander';
import { type Context, createContext } from './context.ts';
import { ENDPOINTS, type EndpointName, type Endpoints } from './core/endpoints.ts';
import { resolveJobs } from './core/jobs.ts';

export interface CommonOptions {
  verbose?: boolean;
  quiet?: boolean;
  json?: boolean;
  dryRun?: boolean;
  cacheDir?: string;
  jobs?: string;
  [endpointOption: string]: unknown;
}

/** commander's camelCase attribute for an endpoint flag: --release-url → releaseUrl. */
function attributeOf(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Adds the shared flags. Every endpoint flag is accepted everywhere; `endpoints` picks the ones --help
 * shows, so each command's help lists what matters to it.
 */
export function addCommonOptions(
  command: Command,
  options: { dryRun?: boolean; endpoints?: EndpointName[] } = {},
): Command {
  command
    .option('--json', 'machine-readable result and errors on stdout')
    .option('-v, --verbose', 'show every command and request')
    .option('-q, --quiet', 'print only the result and errors (no progress)')
    // Spelled like the endpoint flags' notes; the variable itself is read by defaultCacheDir.
    .option('--cache-dir <dir>', 'download cache (env BAKE_CACHE_DIR)')
    .option('--jobs <n>', 'threads and parallel jobs to use (default: the CPUs bake may use) (env BAKE_JOBS)');
  if (options.dryRun !== false) command.option('--dry-run', 'print the plan; touch nothing');
  const shown = options.endpoints ?? (Object.keys(ENDPOINTS) as EndpointName[]);
  for (const [name, spec] of Object.entries(ENDPOINTS) as Array<[EndpointName, (typeof ENDPOINTS)[EndpointName]]>) {
    const option = new Option(`${spec.flag} <url>`, `${spec.description} (env ${spec.env})`);
    command.addOption(shown.includes(name) ? option : option.hideHelp());
  }
  return command;
}

/** A repeatable option's values, in the order given (commander's parser for `--opt a --opt b`). */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Bridges SIGINT/SIGTERM into an AbortSignal, so every stage can stop and clean up. */
export const interruption = new AbortController();

export function contextFromOptions(options: CommonOptions): Context {
  const endpoints: Partial<Endpoints> = {};
  for (const [name, spec] of Object.entries(ENDPOINTS)) {
    const value = options[attributeOf(spec.flag)];
    if (typeof value === 'string') endpoints[name as EndpointName] = value;
  }
  return createContext({
    verbose: options.verbose ?? false,
    // stderr stays quiet under --json too, unless --verbose asks for the detail.
    quiet: (options.quiet ?? false) || (options.json === true && options.verbose !== true),
    json: options.json ?? false,
    dryRun: options.dryRun ?? false,
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    jobs: resolveJobs(options.jobs ?? process.env.BAKE_JOBS),
    endpoints,
    signal: interruption.signal,
  });
}
