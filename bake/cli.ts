#!/usr/bin/env node
/**
 * argv only: picks the command, lazily imports it, runs it, and maps every error to one line (or a JSON
 * object with --json) and an exit code. Nothing else happens here.
 */
import { Command } from 'commander';
import { interruption } from './cli-context.ts';
import { COMMAND_NAMES, COMMANDS, type CommandModule } from './commands/index.ts';
import { printJsonError, reportedInJson } from './commands/json-output.ts';
import { BakeError, escapeControl, exitCodeFor, oneLine, usageError } from './core/errors.ts';
import { closest } from './core/suggest.ts';

/**
 * What an interrupted bake leaves: cleanup removes everything else, but keeps partial downloads of large
 * files (with the validator that lets them resume safely), which is what makes Ctrl-C cheap to recover.
 */
const AFTER_INTERRUPT = 'partial downloads in the cache resume on the next run; nothing else was left behind';

function installSignalHandlers(): void {
  let count = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    count += 1;
    if (count === 1) {
      process.stderr.write(`\n${signal}: stopping and cleaning up (press again to force)\n`);
      interruption.abort(new BakeError('interrupted', `interrupted by ${signal}`, AFTER_INTERRUPT));
    } else {
      process.stderr.write(`${signal} again: exiting now, cleanup may be incomplete\n`);
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/**
 * A reader that went away (`bake ... | head`) is a SIGPIPE, which Node ignores: the next write would throw
 * and end bake with its mounts still up. Stop and clean up instead; what is written afterwards is lost.
 */
function installPipeHandlers(): void {
  for (const [stream, name] of [
    [process.stdout, 'stdout'],
    [process.stderr, 'stderr'],
  ] as const) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      interruption.abort(new BakeError('interrupted', `interrupted: the reader of ${name} went away`, AFTER_INTERRUPT));
    });
  }
}

async function main(argv: string[]): Promise<void> {
  installSignalHandlers();
  installPipeHandlers();
  // `bake help [command]` is `bake [command] --help`.
  const args = argv[2] === 'help' ? [...argv.slice(3), '--help'] : argv.slice(2);
  const name = args[0];
  const entry = name !== undefined ? COMMANDS[name] : undefined;
  if (!entry && name !== undefined) rejectNearMissCommand(name);
  const program = entry
    ? subcommandProgram(await entry.load())
    : await (await import('./commands/bake.ts')).command(args);
  overrideExits(program, wantsJson(argv));
  await program.parseAsync(args, { from: 'user' });
}

/** A subcommand under a `bake` parent, so its usage and errors read `bake sysext …`. */
function subcommandProgram(module: CommandModule): Command {
  return new Command('bake').addCommand(module.command()).helpCommand(false);
}

/**
 * A bare word close to a command name (`bake vendor`, `bake ignitoin`) is a typo for the command, not a
 * sysext argument: those always hold `:` or `@`.
 */
function rejectNearMissCommand(word: string): void {
  if (!/^[a-z][a-z-]*$/.test(word)) return;
  const near = closest(word, COMMAND_NAMES);
  if (near)
    throw usageError(`'${word}' is not a bake command`, `did you mean 'bake ${near}'? (bake --help lists them)`);
}

/**
 * commander must throw instead of exiting, at every level, so errors reach the one handler below. With
 * --json it must not print its usage errors either: the handler prints them as the JSON error object.
 */
function overrideExits(command: Command, json: boolean): void {
  command.exitOverride();
  if (json) command.configureOutput({ outputError: () => undefined });
  for (const sub of command.commands) overrideExits(sub, json);
}

/** commander's own message ("error: unknown option '--frob'") as a usage error. */
function commanderUsageError(error: Error): BakeError {
  return usageError(error.message.replace(/^error: /, ''), 'see --help');
}

function wantsJson(argv: string[]): boolean {
  return argv.includes('--json');
}

/** Exits once stdout and stderr are flushed: a pipe reader must get the whole result (e.g. --json). */
function exitAfterFlush(code: number): void {
  const flush = (stream: NodeJS.WriteStream, next: () => void) =>
    stream.writable ? stream.write('', () => next()) : next();
  flush(process.stdout, () => flush(process.stderr, () => process.exit(code)));
}

main(process.argv).then(
  () => exitAfterFlush(Number(process.exitCode ?? 0)),
  (error: unknown) => {
    const commanderCode = (error as { code?: string }).code;
    if (commanderCode === 'commander.helpDisplayed' || commanderCode === 'commander.version') return exitAfterFlush(0);
    const json = wantsJson(process.argv);
    if (commanderCode?.startsWith('commander.')) {
      // Without --json commander has already printed the usage error.
      if (json) printJsonError(commanderUsageError(error as Error));
      return exitAfterFlush(2);
    }
    if (json && !reportedInJson(error)) printJsonError(error);
    else if (!json) process.stderr.write(`bake: ${oneLine(error)}\n`);
    if (process.env.BAKE_DEBUG && error instanceof Error)
      process.stderr.write(`${(error.stack ?? '').split('\n').map(escapeControl).join('\n')}\n`);
    exitAfterFlush(exitCodeFor(error));
  },
);
