/**
 * Plain, line-oriented logging to stderr. stdout is reserved for results (the summary table, --json,
 * --dry-run plans), so that `bake --json ... | jq` always works.
 */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  /** Shown with --verbose: every external command and HTTP request. */
  debug(message: string): void;
}

export function createLogger(options: { verbose: boolean; quiet?: boolean; write?: (line: string) => void }): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  return {
    info: (message) => {
      if (!options.quiet) write(message);
    },
    warn: (message) => write(`warning: ${message}`),
    debug: (message) => {
      if (options.verbose) write(`+ ${message}`);
    },
  };
}

/** A logger that keeps lines in memory; for tests. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(m),
    warn: (m) => lines.push(`warning: ${m}`),
    debug: (m) => lines.push(`+ ${m}`),
  };
}
