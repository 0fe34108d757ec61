/**
 * Every command bake has, with a line and an example or two each: what `bake --help` lists and
 * `bake help <command>` dispatches to. The modules load only when their command runs.
 */
import type { Command } from 'commander';

export type CommandModule = { command(): Command };

interface CommandEntry {
  summary: string;
  examples: readonly string[];
  load: () => Promise<CommandModule>;
}

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  sysext: {
    summary: 'build, pack, wrap and lint system extensions from the recipe catalogue',
    examples: ['bake sysext create docker 27.3.1 --sysupdate', 'bake sysext lint docker.raw'],
    load: () => import('./sysext.ts'),
  },
  vendors: {
    summary: 'list the vendor image formats of a release',
    examples: ['bake vendors --release stable'],
    load: () => import('./vendors.ts'),
  },
  boot: {
    summary: 'boot a baked image in QEMU, or check headless that its extensions merged',
    examples: ['bake boot', 'bake boot --check --json flatcar_production_image.bin'],
    load: () => import('./boot.ts'),
  },
  ignition: {
    summary: 'print an Ignition config that installs and updates extensions',
    examples: ['bake ignition docker kubernetes@v1.31.4 > config.ign'],
    load: () => import('./ignition.ts'),
  },
  butane: {
    summary: 'the same as Butane YAML',
    examples: ['bake butane docker > config.bu'],
    load: () => import('./butane.ts'),
  },
  repo: {
    summary: 'build, sign, serve and list a sysext repository (the bakery layout)',
    examples: ['bake repo build ./repo --config release_build_versions.txt', 'bake repo serve ./repo'],
    load: () => import('./repo.ts'),
  },
  cache: {
    summary: 'list what the download cache holds and its size, and prune it',
    examples: ['bake cache list', 'bake cache prune --older-than 30d'],
    load: () => import('./cache.ts'),
  },
  doctor: {
    summary: 'check what this host can do: tools, privileges, container runtimes, firmware, KVM',
    examples: ['bake doctor', 'bake doctor --json'],
    load: () => import('./doctor.ts'),
  },
  completion: {
    summary: 'print shell completion for bash, zsh or fish',
    examples: ['eval "$(bake completion bash)"'],
    load: () => import('./completion.ts'),
  },
};

export const COMMAND_NAMES = Object.keys(COMMANDS);

/** The commands section of `bake --help`. */
export function commandsHelp(): string {
  const width = Math.max(...COMMAND_NAMES.map((name) => name.length));
  const lines = COMMAND_NAMES.flatMap((name) => {
    const { summary, examples } = COMMANDS[name]!;
    return [
      `  ${name.padEnd(width)}  ${summary}`,
      ...examples.map((example) => `  ${' '.repeat(width)}    $ ${example}`),
    ];
  });
  return [
    '',
    "Commands (bake help <command> for each one's options):",
    ...lines,
    '',
    'Examples:',
    '  $ bake docker:docker-27.3.1-x86-64.raw            a local sysext into the newest stable release',
    '  $ bake --fetch --release beta docker@27.3.1       from the bakery, into the newest beta',
    '  $ bake --vendor azure --dry-run kubernetes@v1.31.4  what a build-and-bake would do',
    '',
  ].join('\n');
}
