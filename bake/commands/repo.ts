/**
 * `bake repo build|outdated|sign|serve|list`: run a sysext repository in the bakery's layout with one
 * tool (docs/flatcar-facts.md §6) instead of GitHub Actions, release scripts and Caddy.
 */
import { basename } from 'node:path';
import { Command } from 'commander';
import {
  addCommonOptions,
  addRecipeEndpointOptions,
  type CommonOptions,
  contextFromOptions,
  interruption,
} from '../cli-context.ts';
import type { Context } from '../context.ts';
import { ARCHES, type Arch, parseArch } from '../core/arch.ts';
import type { RecipeEndpoint } from '../core/endpoints.ts';
import { buildRepository, type RepoBuildSummary, type SysextBuilder } from '../repo/build.ts';
import { loadCatalog } from '../repo/catalog.ts';
import { readRepository } from '../repo/layout.ts';
import { describePlan, planBuilds, resolveBuildList, type Upstream } from '../repo/plan.ts';
import { parseListen, startRepoServer } from '../repo/serve.ts';
import { signRepository } from '../repo/sign.ts';
import { readBuildList } from '../repo/versions-file.ts';
import { formatTable } from './table.ts';

interface RepoFlags extends CommonOptions {
  config: string;
  arch: string;
  key?: string;
  homedir?: string;
  verify?: boolean;
  listen: string;
  followSymlinks?: boolean;
}

const DEFAULT_CONFIG = 'release_build_versions.txt';

function parseArches(value: string): Arch[] {
  return [...new Set(value.split(',').map((arch) => parseArch(arch.trim())))];
}

/** The product's builder and upstream: the extension catalogue (bake/sysext), with confs pointing at the repo. */
async function catalogueBuilder(ctx: Context): Promise<{ builder: SysextBuilder; upstream: Upstream }> {
  const { createSysext } = await import('../sysext/create.ts');
  const { latestVersions } = await import('../sysext/versions.ts');
  return {
    upstream: { latestVersions: (name) => latestVersions(ctx, name) },
    builder: async (request) => {
      const repoCtx: Context = { ...ctx, endpoints: { ...ctx.endpoints, bakeryUrl: request.sysupdate.bakeryUrl } };
      const result = await createSysext(repoCtx, {
        name: request.name,
        version: request.version,
        arch: request.arch,
        outputDir: request.outputDir,
        outputFile: basename(request.outputFile),
        sysupdate: true,
        verify: request.sysupdate.verify,
      });
      return { image: result.image, confs: result.confs };
    },
  };
}

/** `json` may say `ok: false` itself (a build or a resolution that partly failed); else it is ok. */
function write(ctx: Context, json: object, lines: string[]): void {
  process.stdout.write(
    ctx.json ? `${JSON.stringify({ ok: true, ...json })}\n` : lines.map((line) => `${line}\n`).join(''),
  );
}

/** The recipes' endpoints, for the subcommands that run recipes: the catalogue is loaded only for those. */
async function recipeEndpointList(): Promise<RecipeEndpoint[]> {
  return (await import('../sysext/catalog.ts')).recipeEndpoints();
}

const RUNS_RECIPES = new Set(['build', 'outdated']);

async function build(dir: string, flags: RepoFlags): Promise<void> {
  const ctx = contextFromOptions(flags, await recipeEndpointList());
  const { builder, upstream } = await catalogueBuilder(ctx);
  const summary = await buildRepository(ctx, {
    repoDir: dir,
    entries: await readBuildList(flags.config),
    arches: parseArches(flags.arch),
    upstream,
    builder,
    bakeryUrl: ctx.endpoints.bakeryUrl,
    verify: flags.verify ?? flags.key !== undefined,
    ...(flags.key ? { signingKey: { key: flags.key, ...(flags.homedir ? { homedir: flags.homedir } : {}) } } : {}),
  });
  write(ctx, { ok: summary.failed.length === 0, dryRun: ctx.dryRun, ...buildJson(summary) }, buildLines(ctx, summary));
  if (summary.failed.length > 0) process.exitCode = 1; // the rest was built; CI still sees the failure
}

function buildJson(summary: RepoBuildSummary) {
  return {
    plan: summary.plan,
    built: summary.built,
    skipped: summary.plan.skip,
    failed: summary.failed,
    signed: summary.signed,
  };
}

function buildLines(ctx: Context, summary: RepoBuildSummary): string[] {
  if (ctx.dryRun) return describePlan(summary.plan, summary.failed);
  return [
    ...summary.built.map((tag) => `built   ${tag}`),
    ...summary.plan.skip.map((s) => `skipped ${s.name}-${s.version}: ${s.reason}`),
    ...summary.failed.map((f) => `failed  ${f.version ? `${f.name}-${f.version}` : f.name}: ${f.error}`),
    ...summary.signed.map((file) => `signed  ${file}`),
    `${summary.built.length} built, ${summary.plan.skip.length} skipped, ${summary.failed.length} failed`,
  ];
}

async function outdated(dir: string, flags: RepoFlags): Promise<void> {
  const ctx = contextFromOptions(flags, await recipeEndpointList());
  const { upstream } = await catalogueBuilder(ctx);
  const resolution = await resolveBuildList(await readBuildList(flags.config), upstream);
  const plan = planBuilds(resolution.wanted, await readRepository(dir), parseArches(flags.arch));
  const missing = plan.build.map(({ name, version, arches }) => ({ name, version, arches }));
  write(ctx, { ok: resolution.failed.length === 0, missing, failed: resolution.failed }, [
    ...missing.map((m) => `${m.name} ${m.version}`),
    ...resolution.failed.map((f) => `# failed ${f.name}: ${f.error}`),
  ]);
  if (resolution.failed.length > 0) process.exitCode = 1;
}

async function sign(dir: string, flags: RepoFlags): Promise<void> {
  const ctx = contextFromOptions(flags);
  const signed = await signRepository(ctx, dir, {
    key: flags.key!,
    ...(flags.homedir ? { homedir: flags.homedir } : {}),
  });
  write(
    ctx,
    { signed },
    signed.map((file) => `signed ${file}`),
  );
}

async function serve(dir: string, flags: RepoFlags): Promise<void> {
  const ctx = contextFromOptions(flags);
  const { host, port } = parseListen(flags.listen);
  await using server = await startRepoServer({
    repoDir: dir,
    host,
    port,
    followSymlinks: flags.followSymlinks ?? false,
    log: (line) => ctx.log.info(line),
  });
  write(ctx, { url: server.url }, [`serving ${dir} at ${server.url}/ (Ctrl-C stops)`]);
  await new Promise<void>((done) => interruption.signal.addEventListener('abort', () => done(), { once: true }));
}

async function list(given: string | undefined, flags: RepoFlags): Promise<void> {
  const ctx = contextFromOptions(flags);
  const source = given ?? ctx.endpoints.bakeryUrl;
  const catalog = await loadCatalog(ctx, source);
  const json = catalog.extensions.map(({ name, versions, arches }) => ({ name, versions, arches }));
  write(
    ctx,
    { source, extensions: json },
    json.length ? [formatTable(json.map((e) => [e.name, e.arches.join(','), e.versions.join(' ')]))] : [],
  );
}

export function command(): Command {
  const program = new Command('repo').description(
    'Build, sign, serve and list a sysext repository (the bakery layout).',
  );
  const arches = Object.keys(ARCHES).join(',');
  program.hook('preSubcommand', async (_repo, subcommand) => {
    if (RUNS_RECIPES.has(subcommand.name())) addRecipeEndpointOptions(subcommand, await recipeEndpointList());
  });
  const sub = (name: string, description: string, options?: { dryRun?: boolean }) =>
    addCommonOptions(program.command(name).description(description), { endpoints: ['bakeryUrl'], ...options });
  sub(
    'build',
    'build every listed version the repository lacks (never rebuilds or removes a published one); confs point at --bakery-url, the URL the repository is served under',
  )
    .argument('<repo-dir>')
    .option('--config <file>', 'build list (release_build_versions.txt format)', DEFAULT_CONFIG)
    .option('--arch <arches>', 'comma-separated arches', arches)
    .option('--key <key>', 'sign the metadata with this GPG key (file or key ID)')
    .option('--homedir <dir>', 'GnuPG home holding --key when it is a key ID')
    .option('--verify', 'write Verify=yes into the confs (default when --key is given)')
    .option('--no-verify', 'write Verify=false into the confs')
    .action(build);
  sub('outdated', 'list the versions upstream has that the repository lacks', { dryRun: false })
    .argument('<repo-dir>')
    .option('--config <file>', 'build list (release_build_versions.txt format)', DEFAULT_CONFIG)
    .option('--arch <arches>', 'comma-separated arches', arches)
    .action(outdated);
  sub('sign', 'write SHA256SUMS.gpg next to every manifest, for sysupdate Verify=yes')
    .argument('<repo-dir>')
    .requiredOption('--key <key>', 'GPG secret key file, or key ID in --homedir')
    .option('--homedir <dir>', 'GnuPG home holding --key when it is a key ID')
    .action(sign);
  sub('serve', 'serve the repository over HTTP in the layout systemd-sysupdate expects', { dryRun: false })
    .argument('<repo-dir>')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8080')
    .option('--follow-symlinks', 'serve through symlinks whose target lies inside the repository (never outside it)')
    .action(serve);
  sub('list', "list a repository's extensions, versions and arches (default: the bakery, --bakery-url)", {
    dryRun: false,
  })
    .argument('[url|dir]')
    .action(list);
  return program;
}
