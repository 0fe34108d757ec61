/**
 * Where the rootless tests run bake: as a throw-away user with no sudo, and inside an unprivileged podman
 * container (no --privileged, no devices, not root) with the checkout, its node_modules and the host's /usr
 * (node and the filesystem tools) mounted read-only. Any step that needs a loop device, a mount or chown
 * fails in both.
 */
import { chmod, chown, mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { execa } from 'execa';

/** The bake CLI as users run it (the build `npm test` makes first). */
export const BAKE_CLI = resolve(import.meta.dirname, '../../bin/bake.js');
const REPO = resolve(import.meta.dirname, '../..');
/** `node --import` this to run a TypeScript driver directly. */
export const TSX_LOADER = import.meta.resolve('tsx/esm');

export interface UserRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ThrowAwayUser {
  name: string;
  uid: number;
  /** A directory the user owns (mode 0755), with `tmp/` as its TMPDIR; removed after the test. */
  dir: string;
  /** Runs node with `argv` as the user, in `dir`, with a minimal environment. */
  node(argv: string[], options?: { env?: Record<string, string>; timeoutMs?: number }): Promise<UserRun>;
  /** Runs the bake CLI as the user, with --verbose so the log shows every command it ran. */
  bake(args: string[], options?: { env?: Record<string, string>; timeoutMs?: number }): Promise<UserRun>;
  /** Hands `path` (recursively) to the user. */
  give(path: string): Promise<void>;
}

/** A user without sudo and a workspace it owns; both go away after the test. */
export async function throwAwayUser(t: TestContext, name: string): Promise<ThrowAwayUser> {
  await execa('userdel', ['--remove', name], { reject: false });
  await execa('useradd', ['--create-home', '--shell', '/bin/sh', name]);
  t.after(() => execa('userdel', ['--remove', name], { reject: false }));
  const uid = Number((await execa('id', ['-u', name])).stdout);
  const dir = await mkdtemp(join(tmpdir(), `${name}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'tmp'));
  for (const path of [dir, join(dir, 'tmp')]) await chown(path, uid, uid);
  await chmod(dir, 0o755);
  const baseEnv = {
    HOME: `/home/${name}`,
    TMPDIR: join(dir, 'tmp'),
    PATH: process.env.PATH ?? '',
    BAKE_CACHE_DIR: join(dir, 'cache'),
  };
  const node: ThrowAwayUser['node'] = async (argv, options = {}) => {
    const run = await execa('runuser', ['-u', name, '--', process.execPath, ...argv], {
      cwd: dir,
      env: { ...baseEnv, ...options.env },
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      timeout: options.timeoutMs ?? 300_000,
    });
    return { exitCode: run.exitCode ?? -1, stdout: String(run.stdout), stderr: String(run.stderr) };
  };
  return {
    name,
    uid,
    dir,
    node,
    bake: (args, options) => node([BAKE_CLI, ...args, '--verbose'], options),
    give: async (path) => {
      await execa('chown', ['-R', `${uid}:${uid}`, path]);
    },
  };
}

/**
 * One tag per test file's process: the suite runs files side by side, and one file removing a shared tag
 * when it is done would pull the image from under another's container.
 */
const CONTAINER_IMAGE = `localhost/bake-unprivileged-test:${process.pid}`;
/** Not root inside either: the container runs as this uid, which owns the workspace. */
export const CONTAINER_UID = 4242;

/** An image that is nothing but the merged-/usr links and a passwd: /usr itself comes from the host. */
async function importBareImage(t: TestContext): Promise<void> {
  const rootfs = await mkdtemp(join(tmpdir(), 'unprivileged-rootfs-'));
  t.after(() => rm(rootfs, { recursive: true, force: true }));
  for (const dir of ['usr', 'etc', 'tmp', 'proc', 'sys', 'dev']) await mkdir(join(rootfs, dir));
  for (const link of ['bin', 'lib', 'lib64', 'sbin']) await execa('ln', ['-s', `usr/${link}`, join(rootfs, link)]);
  await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0::/:/bin/sh\n');
  await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\n');
  await execa('sh', ['-c', 'tar -C "$1" -c . | podman import - "$2"', 'sh', rootfs, CONTAINER_IMAGE]);
  t.after(() => execa('podman', ['rmi', '--force', CONTAINER_IMAGE], { reject: false }));
}

export interface UnprivilegedContainer {
  /** Runs `sh -ec script` in a fresh container, `workspace` mounted read-write at /ws (its working directory). */
  run(
    workspace: string,
    script: string,
    options?: { env?: Record<string, string>; network?: 'none' | 'host'; timeoutMs?: number },
  ): Promise<UserRun>;
}

/** Containers without privileges or devices; `workspace` directories must be owned by CONTAINER_UID. */
export async function unprivilegedContainer(t: TestContext): Promise<UnprivilegedContainer> {
  await importBareImage(t);
  const modules = await realpath(join(REPO, 'node_modules'));
  return {
    async run(workspace, script, options = {}) {
      const env = { HOME: '/ws', TMPDIR: '/ws/tmp', BAKE_CACHE_DIR: '/ws/cache', ...options.env };
      await mkdir(join(workspace, 'tmp'), { recursive: true });
      await execa('chown', ['-R', `${CONTAINER_UID}:${CONTAINER_UID}`, workspace]);
      const run = await execa(
        'podman',
        [
          'run',
          '--rm',
          '--network',
          options.network ?? 'none',
          '--user',
          `${CONTAINER_UID}:${CONTAINER_UID}`,
          '-v',
          '/usr:/usr:ro',
          '-v',
          `${REPO}:${REPO}:ro`,
          '-v',
          `${modules}:${modules}:ro`,
          '-v',
          `${workspace}:/ws`,
          '-w',
          '/ws',
          ...Object.entries(env).flatMap(([key, value]) => ['-e', `${key}=${value}`]),
          CONTAINER_IMAGE,
          'sh',
          '-ec',
          script,
        ],
        { reject: false, timeout: options.timeoutMs ?? 600_000 },
      );
      return { exitCode: run.exitCode ?? -1, stdout: String(run.stdout), stderr: String(run.stderr) };
    },
  };
}
