/**
 * Runs the real `bake` CLI as a child process, as a user would, and checks that a run left nothing
 * behind: no mount and no loop device from its private TMPDIR or output directory, no temp files, no
 * partial output. Also reads baked images back with tools we did not write (losetup, mount, debugfs).
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { execa } from 'execa';

const REPO = resolve(import.meta.dirname, '../..');
const CLI = join(REPO, 'bin/bake.js');

export interface BakeRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** A private working area per test: cwd, output dir and TMPDIR (where bake puts its mount points). */
export interface Workspace {
  dir: string;
  out: string;
  tmp: string;
  env: Record<string, string>;
}

export async function workspace(t: TestContext, env: Record<string, string> = {}): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), 'bake-test-'));
  const out = join(dir, 'out');
  const tmp = join(dir, 'tmp');
  await mkdir(out);
  await mkdir(tmp);
  t.after(() => rm(dir, { recursive: true, force: true }));
  return { dir, out, tmp, env: { ...env, TMPDIR: tmp, BAKE_HTTP_RETRY_DELAY_MS: '10' } };
}

/** Long enough for any bake that boots no VM, also on a host three times slower than usual. */
const BAKE_TIMEOUT_MS = 180_000;

export function startBake(
  ws: Workspace,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = BAKE_TIMEOUT_MS,
) {
  return execa(process.execPath, [CLI, ...args], {
    cwd: ws.dir,
    env: { ...ws.env, ...env },
    reject: false,
    stdin: 'ignore',
    timeout: timeoutMs,
  });
}

export async function runBake(
  ws: Workspace,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = BAKE_TIMEOUT_MS,
): Promise<BakeRun> {
  const result = await startBake(ws, args, env, timeoutMs);
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** The one-line error contract: `bake: <message>` as the last stderr line, no stack trace. */
export function assertOneLineError(run: BakeRun, pattern: RegExp): void {
  assert.notEqual(run.exitCode, 0, `bake should have failed:\n${run.stderr}`);
  const lastLine = run.stderr.trimEnd().split('\n').at(-1) ?? '';
  assert.match(lastLine, /^bake: /, `last stderr line: ${lastLine}`);
  assert.match(lastLine, pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at .+:\d+:\d+\)?\n/, 'no stack trace');
}

export async function assertNothingLeft(ws: Workspace, expectedOutputs: string[] = []): Promise<void> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  assert.ok(
    !mounts.includes(ws.dir),
    `a mount is left under ${ws.dir}:\n${mounts
      .split('\n')
      .filter((l) => l.includes(ws.dir))
      .join('\n')}`,
  );
  const { stdout: loops } = await execa('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE']);
  assert.ok(!loops.includes(ws.dir), `a loop device is left on a file under ${ws.dir}:\n${loops}`);
  // tsx keeps its compile cache in TMPDIR (tsx-<uid>); that is the TypeScript loader's, not bake's.
  const leftovers = (await readdir(ws.tmp)).filter((name) => !/^tsx-\d+$/.test(name));
  assert.deepEqual(leftovers, [], 'temp files left in TMPDIR');
  assert.deepEqual(
    (await readdir(ws.out)).sort(),
    [...expectedOutputs].sort(),
    'unexpected files in the output directory',
  );
}

/** Mounts a baked image's ROOT (p9) and OEM (p6) read-only for inspection; unmounted by t.after. */
export async function mountImage(t: TestContext, image: string): Promise<{ root: string; oem: string }> {
  const { readGpt } = await import('../../bake/image/gpt.ts');
  const table = await readGpt(image);
  const mountpoints: Record<string, string> = {};
  for (const [name, number, fstype] of [
    ['root', 9, 'ext4'],
    ['oem', 6, 'btrfs'],
  ] as const) {
    const partition = table.partitions.find((p) => p.number === number)!;
    const { stdout: device } = await execa('losetup', [
      '--find',
      '--show',
      '--read-only',
      '--offset',
      String(partition.offsetBytes),
      '--sizelimit',
      String(partition.sizeBytes),
      image,
    ]);
    const dir = await mkdtemp(join(tmpdir(), `bake-inspect-${name}-`));
    t.after(async () => {
      await execa('umount', [dir], { reject: false });
      await execa('losetup', ['--detach', device], { reject: false });
      await rmdir(dir).catch(() => undefined);
    });
    await execa('mount', ['-t', fstype, '-o', 'ro', device, dir]);
    mountpoints[name] = dir;
  }
  return { root: mountpoints.root!, oem: mountpoints.oem! };
}

/**
 * `bake repo serve` on a port the kernel picks; its URL is read from what it prints. `stop` ends it and
 * returns what it logged; it is stopped when the test ends in any case.
 */
export async function runServe(
  t: TestContext,
  ws: Workspace,
  repo: string,
): Promise<{ url: string; stop(): Promise<string> }> {
  const child = startBake(ws, ['repo', 'serve', repo, '--listen', '127.0.0.1:0']);
  const stop = async () => {
    child.kill('SIGINT');
    return String((await child).stderr);
  };
  t.after(stop);
  let printed = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
      const found = / at (http:\/\/127\.0\.0\.1:\d+)\//.exec(printed)?.[1];
      if (found) resolve(found);
    });
    child.once('exit', () => reject(new Error(`bake repo serve exited: ${printed}`)));
  });
  return { url, stop };
}
