/**
 * Serves a directory over HTTP on 127.0.0.1 with the test mirror, so bake can be pointed at local
 * releases and extensions (the demo does this):
 *
 *   node --import tsx scripts/mirror.ts <dir> [--port N]
 *
 * Prints the base URL on stdout, logs each request on stderr, and stops on Ctrl-C.
 */
import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { startMirror } from '../test/support/mirror.ts';

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: node --import tsx scripts/mirror.ts <dir> [--port N]\n`);
  process.exit(2);
}

function parseCommandLine() {
  try {
    return parseArgs({ allowPositionals: true, options: { port: { type: 'string', short: 'p' } } });
  } catch (error) {
    return usage((error as Error).message);
  }
}

async function main(): Promise<void> {
  const parsed = parseCommandLine();
  const [root, ...extra] = parsed.positionals;
  if (root === undefined || extra.length > 0) usage('expected exactly one directory');
  if (!(await stat(root).catch(() => undefined))?.isDirectory()) usage(`not a directory: ${root}`);
  const port = parsed.values.port === undefined ? 0 : Number(parsed.values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`bad port: ${parsed.values.port}`);

  const mirror = await startMirror({ root, port, log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${mirror.url}\n`);
  process.stderr.write(`serving ${mirror.root} at ${mirror.url} (Ctrl-C to stop)\n`);
  const stop = () => void mirror.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

await main();
