/**
 * The flags every command shares (--verbose, --json, --dry-run, --cache-dir, the endpoint flags) and the
 * Context built from them. Commands add these to their commander Command with addCommonOptions.
 */
import { type Command, Option } from 'commander';
import { type Context, createContext } from './context.ts';
import {
  ENDPOINTS,
  type EndpointName,
  type EndpointSpec,
  type Endpoints,
  type RecipeEndpoint,
} from './core/endpoints.ts';
import { usageError } from './core/errors.ts';
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

export interface CommonOptionsSpec {
  dryRun?: boolean;
  /** The engine endpoints --help shows (default: all); every one is accepted. */
  endpoints?: EndpointName[];
  /** The recipe endpoints to accept, for commands that build recipes (bake sysext/repo get them from the catalogue). */
  recipeEndpoints?: readonly RecipeEndpoint[];
  /** Whether --help shows the recipe endpoints. */
  showRecipeEndpoints?: boolean;
}

/**
 * Adds the shared flags. Every engine endpoint flag is accepted everywhere, and the recipe endpoint flags
 * where recipes are built; `endpoints` picks the ones --help shows, so each command's help lists what
 * matters to it.
 */
export function addCommonOptions(command: Command, options: CommonOptionsSpec = {}): Command {
  command
    .option('--json', 'machine-readable result and errors on stdout')
    .option('-v, --verbose', 'show every command and request')
    .option('-q, --quiet', 'print only the result and errors (no progress)')
    // Spelled like the endpoint flags' notes; the variable itself is read by defaultCacheDir.
    .option('--cache-dir <dir>', 'download cache (env BAKE_CACHE_DIR)')
    .option('--jobs <n>', 'threads and parallel jobs to use (default: the CPUs bake may use) (env BAKE_JOBS)');
  if (options.dryRun !== false) command.option('--dry-run', 'print the plan; touch nothing');
  const shown = options.endpoints ?? (Object.keys(ENDPOINTS) as EndpointName[]);
  for (const [name, spec] of Object.entries(ENDPOINTS) as Array<[EndpointName, EndpointSpec]>)
    command.addOption(endpointOption(spec, shown.includes(name)));
  addRecipeEndpointOptions(command, options.recipeEndpoints ?? [], options.showRecipeEndpoints ?? false);
  return command;
}

/** The flags of recipe endpoints, for a command that runs recipes (shown in --help when `shown`). */
export function addRecipeEndpointOptions(command: Command, endpoints: readonly RecipeEndpoint[], shown = false): void {
  for (const spec of endpoints) command.addOption(endpointOption(spec, shown));
}

function endpointOption(spec: EndpointSpec, shown: boolean): Option {
  const option = new Option(`${spec.flag} <url>`, `${spec.description} (env ${spec.env})`);
  return shown ? option : option.hideHelp();
}

/** A parser for a whole-number option between `min` and `max`; anything else is a usage error naming `flag`. */
export function wholeNumber(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < min || number > max)
      throw usageError(`${flag} must be a whole number from ${min} to ${max}`);
    return number;
  };
}

/** A repeatable option's values, in the order given (commander's parser for `--opt a --opt b`). */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Bridges SIGINT/SIGTERM into an AbortSignal, so every stage can stop and clean up. */
export const interruption = new AbortController();

/** The context of a command; `recipeEndpoints`: the ones it accepts (as given to addCommonOptions). */
export function contextFromOptions(options: CommonOptions, recipeEndpoints: readonly RecipeEndpoint[] = []): Context {
  const endpoints: Partial<Endpoints> = {};
  const named: Array<[string, EndpointSpec]> = [
    ...Object.entries(ENDPOINTS),
    ...recipeEndpoints.map((spec): [string, EndpointSpec] => [spec.name, spec]),
  ];
  for (const [name, spec] of named) {
    const value = options[attributeOf(spec.flag)];
    if (typeof value === 'string') endpoints[name] = value;
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
