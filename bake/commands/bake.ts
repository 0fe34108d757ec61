/**
 * `bake [options] name:file|name@version ...`: the default command. Flags follow
 * tools/bake_flatcar_image.sh (including --install_to), plus output, safety and endpoint flags.
 */
import { existsSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { DEFAULT_CHECK_TIMEOUT_SECONDS } from '../boot/timeouts.ts';
import { addCommonOptions, type CommonOptions, collect, contextFromOptions, wholeNumber } from '../cli-context.ts';
import type { Context } from '../context.ts';
import { tempDir } from '../core/cleanup.ts';
import { requirePrivileges } from '../core/exec.ts';
import { PROJECT_ROOT } from '../core/project.ts';
import { resolveRelease } from '../flatcar/release.ts';
import { IMAGE_BIN } from '../flatcar/release-files.ts';
import { placeSysext } from '../image/placement.ts';
import { type BakeResult, bake } from '../pipeline/bake.ts';
import {
  type BakePlan,
  type BakeRequest,
  checkRecipeSpecs,
  imageFileName,
  parseBakeRequest,
  planBake,
  type RawBakeOptions,
} from '../pipeline/plan.ts';
import { ensureOutputFree } from '../pipeline/publish.ts';
import { checkLocalSysexts, prepareSysext } from '../pipeline/sources.ts';
import { type Report, StageRunner } from '../pipeline/stages.ts';
import { loadTrust, type TrustPlan } from '../pipeline/trust.ts';
import { checkDdi } from '../sysext/ddi-signing.ts';
import { formatPlan, formatSummary, planJson, resultJson } from './bake-output.ts';
import { commandsHelp } from './index.ts';

/** bake's own version, from package.json (read at run time, so dist/ needs no stamping). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

interface BakeFlags extends CommonOptions, RawBakeOptions {
  install_to?: string;
}

/**
 * Loaded only when a recipe is planned. At module scope on purpose: tsc does not rewrite the `.ts` of a
 * dynamic import inside a function that uses `await using`, and the built CLI would not find the module.
 */
const recipePlanner = () => import('../sysext/plan-build.ts');

/** `name@version` (never a flag, never `name:file`): the request builds a recipe. */
const RECIPE_SPEC = /^[^-:][^:]*@/;

/**
 * The bake command. Its recipes' endpoint flags (`--k8s-download-url`, …) are accepted only when `args`
 * name a recipe to build: loading the catalogue costs 80–280 ms, which a plain bake must not pay.
 */
export async function command(args: readonly string[] = []): Promise<Command> {
  const recipeEndpoints = args.some((arg) => RECIPE_SPEC.test(arg))
    ? (await import('../sysext/catalog.ts')).recipeEndpoints()
    : [];
  const program = new Command('bake')
    .description('Bake sysexts into a Flatcar Container Linux image, verified and cached.')
    .usage('[options] <name:file|name@version...>')
    .argument(
      '[sysexts...]',
      'name:file (a sysext image; with --fetch, a bakery file) or name@version (built on the spot)',
    )
    .option('--fetch', 'take each file and <name>.conf from the bakery, checked against its SHA256SUMS')
    .option(
      '--vendor <vendors>',
      'vendor images to make beside the generic one, comma-separated or repeated (see `bake vendors`)',
      collect,
    )
    .option('--arch <arch>', 'x86-64 or arm64', 'x86-64')
    .option('--release <release>', 'stable, beta, alpha, lts or an exact MMMM.m.p', 'stable')
    .option('--install-to <target>', 'root:<dir> or oem:<dir>', 'root:/opt/extensions')
    .addOption(new Option('--install_to <target>', 'same as --install-to (the original spelling)').hideHelp())
    .option(
      '--vendor-route <route>',
      'auto (native where it gives the same image), sdk (image_to_vm.sh in the Flatcar SDK container) or native (qemu-img)',
      'auto',
    )
    .option('--compression <list>', 'vendor image compressions: bz2,gz,zip,zst,none (default: what Flatcar publishes)')
    .option('--container-runtime <runtime>', 'for the SDK route: auto, podman or docker', 'auto')
    .option(
      '--scripts-sha256 <sha256>',
      'the flatcar/scripts file bake runs (SDK route: the tarball; qemu_uefi: qemu_template.sh) must have this SHA-256, instead of a pinned one',
    )
    .option(
      '--insecure-scripts',
      'allow plain HTTP for flatcar/scripts files and run ones no pinned digest vouches for (never cached)',
    )
    .option(
      '--smoke-test',
      'boot the result in QEMU (the qemu_uefi image with --vendor qemu_uefi) and check every sysext merged; publish only if it did',
    )
    .option(
      '--smoke-timeout <seconds>',
      `with --smoke-test: the longest the boot may take (default: ${DEFAULT_CHECK_TIMEOUT_SECONDS})`,
      wholeNumber('--smoke-timeout', 10, 86400),
    )
    .option('--verity', 'build the name@version sysexts as dm-verity protected DDIs')
    .option('--sign', 'build the name@version sysexts as signed verity DDIs, with --key and --cert (implies --verity)')
    .option('--key <file>', 'PEM private key that signs the built sysexts (with --sign)')
    .option('--cert <file>', 'PEM certificate of --key (with --sign)')
    .option(
      '--trust-cert <cert.pem>',
      'a PEM certificate the booted system trusts for signed sysexts (/etc/verity.d); repeatable',
      collect,
    )
    .option(
      '--require-signed-sysexts',
      'write the image policy that makes systemd-sysext refuse unsigned sysexts (needs --trust-cert)',
    )
    .option('--output <dir>', 'where the image goes', '.')
    .option('--force', 'replace an existing output')
    .version(packageVersion(), '-V, --version')
    .addHelpText('after', commandsHelp());
  addCommonOptions(program, { endpoints: ['releaseUrl', 'releasesJson', 'signingKey', 'bakeryUrl'], recipeEndpoints });
  program.action(async (sysexts: string[], flags: BakeFlags) => {
    const started = Date.now();
    const ctx = contextFromOptions(flags, recipeEndpoints);
    const installTo =
      flags.install_to === undefined
        ? { installTo: flags.installTo, installToFlag: '--install-to' }
        : { installTo: flags.install_to, installToFlag: '--install_to' };
    const request = parseBakeRequest(sysexts, { ...flags, ...installTo });
    await checkRecipeSpecs(request);
    await checkLocalSysexts(request.sysexts);
    // Recipes build squashfs payloads; a bad key or certificate is refused before any download.
    if (request.ddi) await checkDdi(request.ddi, 'squashfs');
    const trust = await loadTrust(request.trust);
    if (ctx.dryRun) return printDryRun(ctx, await resolvePlan(ctx, request, trust));
    // What needs no network first: an output in the way, and root for the steps the request says need it.
    await ensureOutputFree(join(request.outputDir, IMAGE_BIN), request.force);
    await requireRootFor(ctx, stepsNeedingRoot(request));
    const stages = new StageRunner(ctx, { verbose: flags.verbose ?? false, quiet: flags.quiet ?? false });
    const plan = await stages.run('resolve', 'Resolve release', (report) => resolvePlan(ctx, request, trust, report));
    // `--vendor-route auto` picks its route by release: known now, still before the image is downloaded.
    if (request.vendorOptions.route === 'auto') await requireRootFor(ctx, autoSdkRoute(plan));
    await printResult(ctx, await bake(ctx, plan, stages), started);
  });
  return program;
}

/**
 * What a bake still needs root for: the SDK vendor route (Flatcar's own privileged container). Everything
 * else, local sysexts of every format included, is done offline as the user.
 */
const stepsNeedingRoot = (request: BakeRequest) =>
  request.vendorOptions.route === 'sdk' ? sdkRoute(request.vendors) : [];

/** The vendors `--vendor-route auto` sent to the SDK route (it picks by release). */
const autoSdkRoute = (plan: BakePlan) =>
  sdkRoute(plan.vendors.filter((vendor) => vendor.route === 'sdk').map((vendor) => vendor.vendor));

const sdkRoute = (vendors: readonly string[]) =>
  vendors.length > 0 ? [`the SDK vendor route (${vendors.join(', ')})`] : [];

async function requireRootFor(ctx: Context, steps: string[]): Promise<void> {
  if (steps.length > 0) await requirePrivileges(ctx.run, steps.join(' and '));
}

/** The release the request names, and the plan the run follows and --dry-run prints. */
async function resolvePlan(
  ctx: Context,
  request: BakeRequest,
  trust: TrustPlan | undefined,
  report?: Report,
): Promise<BakePlan> {
  const release = await resolveRelease(ctx, request.release, request.arch);
  report?.(`${release.channel} ${release.version} (${release.board})`);
  return planBake(request, release, ctx, trust);
}

/**
 * The plan, with local sysexts inspected and placed (read-only), recipes' upstream files listed (their
 * builds run in plan mode) and bakery ones at their default place.
 */
async function printDryRun(ctx: Context, plan: BakePlan): Promise<void> {
  const { request, release } = plan;
  await using work = await tempDir('bake-plan');
  for (const planned of plan.sysexts) {
    const { spec } = planned;
    if (spec.source === 'local') {
      const prepared = await prepareSysext(ctx, spec, {
        arch: request.arch,
        installTo: request.installTo,
        workDir: work.path,
        osVersion: release.version,
        trust: plan.trust,
      });
      planned.placement = prepared.placement;
    } else if (spec.source === 'recipe') {
      const { version, fetches } = await (await recipePlanner()).planRecipeBuild(ctx, {
        name: spec.name,
        version: spec.version,
        arch: request.arch,
      });
      planned.checks = fetches;
      planned.downloads = fetches.map(({ url }) => url);
      // 'latest' resolved: the file is named after the version the run will build.
      planned.placement = placeSysext(
        spec.name,
        imageFileName({ ...spec, version }, request.arch),
        request.installTo,
        undefined,
        true,
      );
    }
  }
  if (!request.force && existsSync(plan.output))
    ctx.log.warn(`${plan.output} exists: the run will refuse to replace it without --force`);
  process.stdout.write(ctx.json ? `${JSON.stringify(planJson(plan))}\n` : formatPlan(plan));
}

async function printResult(ctx: Context, result: BakeResult, started: number): Promise<void> {
  const outputBytes = await Promise.all(result.outputs.map(async (output) => (await stat(output)).size));
  const facts = { elapsedMs: Date.now() - started, outputBytes };
  process.stdout.write(ctx.json ? `${JSON.stringify(resultJson(result, facts))}\n` : formatSummary(result, facts));
}
