/**
 * `bake [options] name:file|name@version ...`: the default command. Flags follow
 * tools/bake_flatcar_image.sh (including --install_to), plus output, safety and endpoint flags.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { addCommonOptions, contextFromOptions, type CommonOptions } from '../cli-context.ts';
import type { Context } from '../context.ts';
import { parseBakeRequest, type BakePlan, type RawBakeOptions } from '../pipeline/plan.ts';
import { bake, type BakeResult } from '../pipeline/bake.ts';
import { resolveRelease } from '../flatcar/release.ts';
import { planBake } from '../pipeline/plan.ts';
import { prepareSysext } from '../pipeline/sources.ts';
import { tempDir } from '../core/cleanup.ts';
import { PROJECT_ROOT } from '../core/project.ts';
import { formatPlan, formatSummary, planJson, resultJson } from './bake-output.ts';

/** bake's own version, from package.json (read at run time, so dist/ needs no stamping). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** A repeatable option's values, in the order given. */
const collect = (value: string, previous: string[] = []) => [...previous, value];

interface BakeFlags extends CommonOptions, RawBakeOptions {
  install_to?: string;
}

export function command(): Command {
  const program = new Command('bake')
    .description('Bake sysexts into a Flatcar Container Linux image, verified and cached.')
    .usage('[options] <name:file|name@version...>')
    .argument('[sysexts...]', 'name:file (a sysext image; with --fetch, a bakery file) or name@version (built on the spot)')
    .option('--fetch', 'take each file and <name>.conf from the bakery, checked against its SHA256SUMS')
    .option('--vendor <vendors>', 'vendor images to make beside the generic one, comma-separated or repeated (see `bake vendors`)', collect)
    .option('--arch <arch>', 'x86-64 or arm64', 'x86-64')
    .option('--release <release>', 'stable, beta, alpha, lts or an exact MMMM.m.p', 'stable')
    .option('--install-to <target>', 'root:<dir> or oem:<dir>', 'root:/opt/extensions')
    .addOption(new Option('--install_to <target>', 'same as --install-to (the original spelling)').hideHelp())
    .option('--vendor-route <route>', 'auto (native where it gives the same image), sdk (image_to_vm.sh in the Flatcar SDK container) or native (qemu-img)', 'auto')
    .option('--compression <list>', 'vendor image compressions: bz2,gz,zip,zst,none (default: what Flatcar publishes)')
    .option('--container-runtime <runtime>', 'for the SDK route: auto, podman or docker', 'auto')
    .option('--smoke-test', 'boot the result in QEMU (the qemu_uefi image with --vendor qemu_uefi) and check every sysext merged; publish only if it did')
    .option('--output <dir>', 'where the image goes', '.')
    .option('--force', 'replace an existing output')
    .version(packageVersion(), '--version');
  addCommonOptions(program, { endpoints: ['releaseUrl', 'releasesJson', 'signingKey', 'bakeryUrl'] });
  program.action(async (sysexts: string[], flags: BakeFlags) => {
    const ctx = contextFromOptions(flags);
    const request = parseBakeRequest(sysexts, { ...flags, installTo: flags.install_to ?? flags.installTo });
    if (ctx.dryRun) return printDryRun(ctx, request, flags);
    const result = await bake(ctx, request, { verbose: flags.verbose ?? false });
    printResult(ctx, result);
  });
  return program;
}

/** The plan, with local sysexts inspected and placed (read-only); bakery and recipe ones at their default place. */
async function printDryRun(ctx: Context, request: ReturnType<typeof parseBakeRequest>, _flags: BakeFlags): Promise<void> {
  const release = await resolveRelease(ctx, request.release, request.arch);
  const plan: BakePlan = planBake(request, release, ctx);
  await using work = await tempDir('bake-plan');
  for (const planned of plan.sysexts) {
    if (planned.spec.source !== 'local') continue;
    const prepared = await prepareSysext(ctx, planned.spec, { arch: request.arch, installTo: request.installTo, workDir: work.path, osVersion: release.version });
    planned.placement = prepared.placement;
  }
  process.stdout.write(ctx.json ? `${JSON.stringify(planJson(plan))}\n` : formatPlan(plan));
}

function printResult(ctx: Context, result: BakeResult): void {
  process.stdout.write(ctx.json ? `${JSON.stringify(resultJson(result))}\n` : formatSummary(result));
}
