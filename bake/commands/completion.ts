/**
 * `bake completion bash|zsh|fish`: a completion script for the shell, generated from the commands
 * themselves (every subcommand and flag commander knows) and from the catalogues (vendor formats,
 * recipe names, channels, arches), so it never lists a flag or a name bake does not have.
 */
import { Command } from 'commander';
import { VENDOR_FORMATS } from '../../vendors/formats.ts';
import { ARCHES } from '../core/arch.ts';
import { usageError } from '../core/errors.ts';
import { CHANNELS } from '../flatcar/channels.ts';
import { recipeNames } from '../sysext/catalog.ts';
import { COMMAND_NAMES, COMMANDS } from './index.ts';

/** One command path (`bake`, `bake sysext create`) and what may follow it. */
interface CompletionNode {
  path: string[];
  subcommands: string[];
  flags: string[];
}

/** Values for the flags that take a name from a closed set. */
function flagValues(): Record<string, string[]> {
  return {
    '--vendor': ['generic', ...VENDOR_FORMATS],
    '--release': [...CHANNELS],
    '--arch': Object.keys(ARCHES),
    '--format': ['squashfs', 'erofs', 'ext4', 'btrfs'],
  };
}

function walk(command: Command, path: string[], nodes: CompletionNode[]): void {
  const flags = command.options.filter((option) => !option.hidden && option.long).map((option) => option.long!);
  const subcommands = command.commands.map((sub) => sub.name());
  nodes.push({ path, subcommands, flags: [...flags, '--help'] });
  for (const sub of command.commands) walk(sub, [...path, sub.name()], nodes);
}

async function completionNodes(): Promise<CompletionNode[]> {
  const nodes: CompletionNode[] = [];
  const bake = await (await import('./bake.ts')).command();
  walk(bake, [], nodes);
  nodes[0]!.subcommands.push(...COMMAND_NAMES, 'help');
  for (const name of COMMAND_NAMES) walk((await COMMANDS[name]!.load()).command(), [name], nodes);
  return nodes;
}

const words = (list: readonly string[]) => list.join(' ');

function bashScript(nodes: CompletionNode[]): string {
  const cases = nodes.map(
    (node) => `    '${node.path.join(' ')}') subcommands='${words(node.subcommands)}'; flags='${words(node.flags)}' ;;`,
  );
  const values = Object.entries(flagValues()).map(
    ([flag, list]) => `    ${flag}) COMPREPLY=($(compgen -W '${words(list)}' -- "$cur")); return ;;`,
  );
  return `# bake completion for bash (and zsh through bashcompinit): eval "$(bake completion bash)"
_bake() {
  local cur prev path word subcommands flags
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
${values.join('\n')}
  esac
  path=''
  for word in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$word" in -*) ;; *) _bake_node "\${path:+$path }$word" && path="\${path:+$path }$word" ;; esac
  done
  _bake_node "$path"
  if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$flags" -- "$cur")); return; fi
  case "$path" in
    'sysext create'|'sysext versions'|ignition|butane) subcommands="$subcommands ${words(recipeNames())}" ;;
  esac
  COMPREPLY=($(compgen -W "$subcommands" -- "$cur"))
  [[ -z "$path" ]] && COMPREPLY+=($(compgen -f -- "$cur"))
}
_bake_node() {
  case "$1" in
${cases.join('\n')}
    *) return 1 ;;
  esac
}
complete -F _bake bake
`;
}

function zshScript(nodes: CompletionNode[]): string {
  return `# bake completion for zsh: eval "$(bake completion zsh)"
autoload -U +X bashcompinit && bashcompinit
${bashScript(nodes).split('\n').slice(1).join('\n')}`;
}

function fishScript(nodes: CompletionNode[]): string {
  const lines = ['# bake completion for fish: bake completion fish | source', 'complete -c bake -f'];
  for (const node of nodes) {
    const condition =
      node.path.length === 0 ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${node.path.at(-1)}`;
    if (node.subcommands.length) lines.push(`complete -c bake -n '${condition}' -a '${words(node.subcommands)}'`);
    for (const flag of node.flags) lines.push(`complete -c bake -n '${condition}' -l ${flag.slice(2)}`);
  }
  for (const [flag, list] of Object.entries(flagValues()))
    lines.push(`complete -c bake -l ${flag.slice(2)} -x -a '${words(list)}'`);
  lines.push(
    `complete -c bake -n '__fish_seen_subcommand_from create versions ignition butane' -a '${words(recipeNames())}'`,
  );
  return `${lines.join('\n')}\n`;
}

const SHELLS = { bash: bashScript, zsh: zshScript, fish: fishScript } as const;

export function command(): Command {
  return new Command('completion')
    .description('print a shell completion script: eval "$(bake completion bash)"')
    .argument('<shell>', 'bash, zsh or fish')
    .action(async (shell: string) => {
      const script = SHELLS[shell as keyof typeof SHELLS];
      if (!script) throw usageError(`no completion for shell '${shell}'`, 'use bash, zsh or fish');
      process.stdout.write(script(await completionNodes()));
    });
}
