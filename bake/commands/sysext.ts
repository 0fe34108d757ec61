/**
 * `bake sysext list|versions|create|wrap|pack|lint`: the extension builder (what `bakery.sh list|create` did),
 * over the recipe catalogue in sysexts/. Recipe options (`--without docker`, `--cni-version v1.6.1`) are
 * taken from the words after the known flags and checked against the recipe.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { addCommonOptions, type CommonOptions, collect, contextFromOptions } from '../cli-context.ts';
import type { Context } from '../context.ts';
import { parseArch } from '../core/arch.ts';
import type { Endpoint, EndpointName } from '../core/endpoints.ts';
import { inputError, usageError } from '../core/errors.ts';
import { parseSize } from '../core/size.ts';
import { getRecipe, recipeDir, recipeEndpoints, recipeNames } from '../sysext/catalog.ts';
import { type CreateResult, createFromRecipe, createSysext, packSysext } from '../sysext/create.ts';
import { type DdiFlags, ddiFromFlags } from '../sysext/ddi-signing.ts';
import { IMAGE_FORMATS, parseFormat } from '../sysext/image.ts';
import { formatFindings, lintSysext } from '../sysext/lint.ts';
import type { Recipe, RecipeOption, VersionSource } from '../sysext/recipe.ts';
import { latestVersions, listVersions } from '../sysext/versions.ts';
import { adHocWrapRecipe } from '../sysext/wrap.ts';
import { printJson } from './json-output.ts';
import { formatTable } from './table.ts';

/** The engine endpoints recipes fetch from; each recipe's own are added from the catalogue. */
const ENDPOINTS: EndpointName[] = [
  'githubUrl',
  'githubApiUrl',
  'gitlabUrl',
  'alpineUrl',
  'debianUrl',
  'debianKeyring',
  'bakeryUrl',
];

/** Every sysext subcommand accepts the recipes' endpoint flags; `versions` and `create` show them. */
function addSysextOptions(command: Command, endpoints: EndpointName[], showRecipeEndpoints = false): void {
  addCommonOptions(command, { dryRun: false, endpoints, recipeEndpoints: recipeEndpoints(), showRecipeEndpoints });
}

const sysextContext = (flags: CommonOptions): Context => contextFromOptions(flags, recipeEndpoints());

interface ImageFlags extends CommonOptions, DdiFlags {
  arch: string;
  format: string;
  os: string;
  outputDir: string;
  outputFile?: string;
  epoch: string;
  forceReload?: boolean;
  extFsSize?: string;
}

interface CreateFlags extends ImageFlags {
  sysupdate?: boolean;
  verify?: boolean;
  name?: string;
}

interface WrapFlags extends CreateFlags {
  apk?: boolean;
  deb?: boolean;
  release?: string;
  repository?: string[];
  skip?: string[];
  expose?: string[];
}

function print(ctx: Context, json: object, text: string): void {
  if (ctx.json) printJson(json);
  else process.stdout.write(text);
}

/** An engine endpoint is named by its key; a recipe's own carries its name. */
const endpointName = (endpoint: Endpoint) => (typeof endpoint === 'string' ? endpoint : endpoint.name);

function describeSource(source: VersionSource): string {
  switch (source.kind) {
    case 'github-releases':
      return `GitHub releases ${source.repo}`;
    case 'github-tags':
      return `GitHub tags ${source.repo}`;
    case 'gitlab-tags':
      return `GitLab tags project ${source.project}${source.endpoint ? ` (${endpointName(source.endpoint)})` : ''}`;
    case 'html-listing':
      return `listing ${source.path}`;
    case 'html-branch-listings':
      return `listings ${source.branchPath.replace('{branch}', '*')} (branches ${source.minimumBranch}+)`;
    case 'hashicorp':
      return `HashiCorp ${source.product}`;
    case 'kubernetes-schedule':
      return 'Kubernetes release schedule';
    case 'package-index':
      return `${source.repository.kind === 'apk' ? 'Alpine' : 'Debian'} ${source.repository.release} ${source.package}`;
  }
}

export function recipeSummary(recipe: Recipe) {
  return {
    name: recipe.name,
    description: recipe.description,
    versionSource: describeSource(recipe.versions),
    verifiesChecksums: recipe.verifiesChecksums,
    staticFiles: existsSync(join(recipeDir(recipe.name), 'files')),
    arches: [...recipe.arches],
    options: (recipe.options ?? []).map(optionFlag),
    optionDetails: (recipe.options ?? []).map((o) => ({
      flag: optionFlag(o),
      description: o.description,
      required: o.required ?? false,
      ...(o.choices ? { choices: [...o.choices] } : {}),
    })),
  };
}

function optionFlag(option: RecipeOption): string {
  return `--${option.name}${option.value ? ` ${option.value}` : ''}`;
}

/** Below the table: every recipe option with what it does (bakery.sh's `create <ext> help`, for all). */
function optionLines(summaries: ReadonlyArray<ReturnType<typeof recipeSummary>>): string {
  const rows = summaries.flatMap((s) =>
    s.optionDetails.map((o) => [
      s.name,
      o.flag,
      `${o.required ? 'required: ' : ''}${o.description}${o.choices ? ` (${o.choices.join(', ')})` : ''}`,
    ]),
  );
  return rows.length > 0
    ? `\nRECIPE OPTIONS (after the version: bake sysext create <name> <version> --option value)\n${formatTable(rows)}\n`
    : '';
}

function listCommand(): Command {
  const command = new Command('list').description(
    'every recipe: version source, checksums, static files, arches, options',
  );
  addSysextOptions(command, []);
  command.action((flags: CommonOptions) => {
    const ctx = sysextContext(flags);
    const summaries = recipeNames().map((name) => recipeSummary(getRecipe(name)));
    const rows = summaries.map((s) => [
      s.name,
      s.versionSource,
      s.verifiesChecksums ? 'yes' : 'no',
      s.staticFiles ? 'yes' : 'no',
      s.arches.join(','),
      s.options.join(' '),
    ]);
    const text = `${formatTable([['EXTENSION', 'VERSIONS FROM', 'CHECKSUMS', 'STATIC FILES', 'ARCHES', 'OPTIONS'], ...rows])}\n${optionLines(summaries)}`;
    print(ctx, { recipes: summaries }, text);
  });
  return command;
}

function versionsCommand(): Command {
  const command = new Command('versions')
    .description('upstream versions, newest first')
    .argument('<name>', 'extension name (see `bake sysext list`)')
    .option('--latest', "the recipe's latest set (k8s family: the newest patch of each supported minor)");
  addSysextOptions(command, ENDPOINTS, true);
  command.action(async (name: string, flags: CommonOptions & { latest?: boolean }) => {
    const ctx = sysextContext(flags);
    const versions = flags.latest ? await latestVersions(ctx, name) : await listVersions(ctx, name);
    print(ctx, { name, versions }, versions.map((v) => `${v}\n`).join(''));
  });
  return command;
}

/** The image flags `create` and `pack` share (bakery.sh create's names). */
function addImageOptions(command: Command): Command {
  return command
    .option('--arch <arch>', 'x86-64 or arm64', 'x86-64')
    .addOption(
      new Option('--format <format>', 'image filesystem').choices(Object.keys(IMAGE_FORMATS)).default('squashfs'),
    )
    .option('--os <id>', "os-release ID the image is for ('_any' fits all)", '_any')
    .option('--output-dir <dir>', 'where the image and its files go', '.')
    .option('--output-file <file>', 'image file name (.raw is added); default <name>.raw')
    .option('--epoch <seconds>', 'SOURCE_DATE_EPOCH for every timestamp', '0')
    .option(
      '--ext-fs-size <size>',
      'ext2/ext4/btrfs: filesystem size before it is shrunk, e.g. 1G (default: from the tree)',
    )
    .option('--force-reload', 'EXTENSION_RELOAD_MANAGER=1 even if the recipe does not need it')
    .option('--verity', 'a dm-verity protected DDI (squashfs or erofs payload) instead of a bare filesystem image')
    .option('--sign', 'a signed verity DDI: the root hash signed with --key for --cert (implies --verity)')
    .option('--key <file>', 'PEM private key that signs (with --sign)')
    .option('--cert <file>', 'PEM certificate of --key, the one systemd checks the signature against (with --sign)');
}

function imageRequest(flags: ImageFlags) {
  const epoch = Number(flags.epoch);
  const ddi = ddiFromFlags(flags);
  if (!Number.isInteger(epoch) || epoch < 0)
    throw usageError(`--epoch ${flags.epoch} is not a number of seconds`, 'use e.g. --epoch 0');
  return {
    arch: parseArch(flags.arch),
    format: parseFormat(flags.format),
    os: flags.os,
    outputDir: flags.outputDir,
    ...(flags.outputFile ? { outputFile: flags.outputFile } : {}),
    ...(flags.extFsSize !== undefined ? { fsSize: parseSize(flags.extFsSize, '--ext-fs-size') } : {}),
    epoch,
    forceReload: flags.forceReload ?? false,
    ...(ddi ? { ddi } : {}),
  };
}

/** `--name value`, `--name=value` and boolean `--name`, as the recipe declares them. */
export function parseRecipeOptions(recipe: Recipe, words: readonly string[]): Record<string, string | boolean> {
  const options: Record<string, string | boolean> = {};
  const declared = new Map((recipe.options ?? []).map((o) => [o.name, o]));
  for (let i = 0; i < words.length; i++) {
    const match = /^--([\w-]+)(?:=(.*))?$/.exec(words[i]!);
    const option = match && declared.get(match[1]!);
    const known = [...declared.keys()].map((n) => `--${n}`).join(', ') || 'none';
    if (!option) throw usageError(`unexpected '${words[i]}' for ${recipe.name}`, `its options: ${known}`);
    if (!option.value) options[option.name] = true;
    else if (match![2] !== undefined) options[option.name] = match![2];
    else if (words[i + 1] !== undefined && !words[i + 1]!.startsWith('--')) options[option.name] = words[++i]!;
    else throw usageError(`--${option.name} needs a value`, `e.g. --${option.name} ${option.value}`);
  }
  return options;
}

function resultText(result: CreateResult): string {
  return `${[
    `${result.name} ${result.version}`.trim(),
    `  image:   ${result.image}`,
    `  sums:    ${result.sha256sums}`,
    ...result.confs.map((c) => `  conf:    ${c}`),
  ].join('\n')}\n`;
}

function createCommand(): Command {
  const command = addImageOptions(
    new Command('create')
      .description('build an extension from its recipe')
      .argument('<name>', 'extension name (see `bake sysext list`)')
      .argument('<version>', "upstream version or 'latest'")
      .argument('[recipe-options...]', 'recipe options, e.g. --without containerd')
      .option('--sysupdate', 'also write the sysupdate configs (<name>.conf, k8s family <name>-vX.Y.conf)')
      .option('--verify', 'Verify=yes in the sysupdate configs (publish SHA256SUMS.gpg)')
      .option(
        '--name <name>',
        "the extension's name in the image (extension-release, files, sysupdate), default the recipe's",
      )
      .allowUnknownOption(),
  );
  addSysextOptions(command, ENDPOINTS, true);
  command.action(async (name: string, version: string, extra: string[], flags: CreateFlags) => {
    const ctx = sysextContext(flags);
    const options = parseRecipeOptions(getRecipe(name), extra);
    const result = await createSysext(ctx, { name, version, ...createRequest(flags), options });
    print(ctx, { ...result }, resultText(result));
  });
  return command;
}

/** What create and wrap share beyond the image flags. */
function createRequest(flags: CreateFlags) {
  return {
    ...imageRequest(flags),
    ...(flags.name ? { imageName: flags.name } : {}),
    sysupdate: flags.sysupdate ?? false,
    verify: flags.verify ?? false,
  };
}

function wrapCommand(): Command {
  const command = addImageOptions(
    new Command('wrap')
      .description(
        'bundle Alpine or Debian packages, with every package they depend on, into a sysext that runs on Flatcar',
      )
      .argument('<packages...>', 'package names; the first names the extension and its version')
      .option('--apk', 'Alpine packages (--alpine-url)')
      .option('--deb', 'Debian packages (--debian-url)')
      .option('--version <version>', "the first package's version, or 'latest'", 'latest')
      .option('--release <release>', 'Alpine branch (default latest-stable) or Debian suite (default bookworm)')
      .option(
        '--repository <name>',
        'Alpine repository or Debian component, repeatable (default main, community / main)',
        collect,
      )
      .option('--skip <package>', 'leave out a dependency, repeatable', collect)
      .option(
        '--expose <path>',
        "executable to rewrite and link from usr/bin, repeatable (default: the packages' bin/ files)",
        collect,
      )
      .option('--sysupdate', 'also write the sysupdate config')
      .option('--verify', 'Verify=yes in the sysupdate config (publish SHA256SUMS.gpg)')
      .option('--name <name>', 'extension name (default: the first package)'),
  );
  addSysextOptions(command, ['alpineUrl', 'debianUrl', 'debianKeyring', 'bakeryUrl']);
  command.action(async (packages: string[], flags: WrapFlags & { version: string }) => {
    const ctx = sysextContext(flags);
    if (Boolean(flags.apk) === Boolean(flags.deb))
      throw usageError('say where the packages come from', 'give exactly one of --apk or --deb');
    const recipe = adHocWrapRecipe({
      kind: flags.apk ? 'apk' : 'deb',
      packages,
      ...(flags.name ? { name: flags.name } : {}),
      ...(flags.release ? { release: flags.release } : {}),
      ...(flags.repository ? { repositories: flags.repository } : {}),
      ...(flags.skip ? { skip: flags.skip } : {}),
      ...(flags.expose ? { expose: flags.expose } : {}),
    });
    const result = await createFromRecipe(ctx, recipe, {
      name: recipe.name,
      version: flags.version,
      ...createRequest(flags),
    });
    print(ctx, { ...result }, resultText(result));
  });
  return command;
}

function packCommand(): Command {
  const command = addImageOptions(
    new Command('pack')
      .description('turn your own tree (usr/, opt/) into a sysext')
      .argument('<dir>', 'the tree')
      .argument('<name>', 'extension name'),
  ).option('--force', 'replace an existing image');
  addSysextOptions(command, []);
  command.action(async (dir: string, name: string, flags: ImageFlags & { force?: boolean }) => {
    const ctx = sysextContext(flags);
    const result = await packSysext(ctx, { dir, name, ...imageRequest(flags), force: flags.force ?? false });
    print(ctx, { ...result }, resultText(result));
  });
  return command;
}

function lintCommand(): Command {
  const command = new Command('lint')
    .description(
      'check a sysext image, DDI or tree (usr/opt only, no usr/sbin, extension-release, drop-ins, ELF arch, unit paths, ownership; for a DDI also its partitions, hash tree and signature)',
    )
    .argument('<image-or-dir>', 'a .raw image or a directory')
    .option('--name <name>', 'expected extension name (default: the image file name)')
    .option('--arch <arch>', 'expected architecture (default: from extension-release)')
    .option(
      '--cert <pem>',
      "a DDI's signature must verify against this PEM certificate (repeatable: any one)",
      collect,
    );
  addSysextOptions(command, []);
  command.action(async (target: string, flags: CommonOptions & { name?: string; arch?: string; cert?: string[] }) => {
    const ctx = sysextContext(flags);
    const findings = await lintSysext(ctx, target, {
      ...(flags.name ? { name: flags.name } : {}),
      ...(flags.arch ? { arch: parseArch(flags.arch) } : {}),
      ...(flags.cert ? { certs: flags.cert } : {}),
    });
    const failure =
      findings.length > 0
        ? inputError(
            `${target}: ${findings.length} lint finding${findings.length === 1 ? '' : 's'}`,
            'fix them and lint again',
          )
        : undefined;
    if (ctx.json) printJson({ findings }, failure);
    else
      process.stdout.write(
        formatFindings(findings)
          .map((line) => `${line}\n`)
          .join('') || `${target}: ok\n`,
      );
    if (failure) throw failure;
  });
  return command;
}

export function command(): Command {
  const program = new Command('sysext').description('build, pack and lint system extensions from the recipe catalogue');
  for (const sub of [listCommand(), versionsCommand(), createCommand(), wrapCommand(), packCommand(), lintCommand()]) {
    // addCommand does not pass exitOverride down; the CLI maps commander's errors to exit codes itself.
    program.addCommand(sub.exitOverride());
  }
  return program;
}
