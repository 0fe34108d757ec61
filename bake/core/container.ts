/**
 * The container runtime (podman or docker) behind one small interface: detect it, create/start/exec/run
 * containers, and always remove them, on success, failure and Ctrl-C, through the caller's CleanupStack.
 * The argv is built by pure functions so that tests can compare whole command lines with golden files.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Context } from '../context.ts';
import type { CleanupStack } from './cleanup.ts';
import { toolError, usageError } from './errors.ts';
import { findTool, type RunOptions, type RunResult } from './exec.ts';

export type RuntimeChoice = 'auto' | 'podman' | 'docker';
export const RUNTIME_CHOICES: readonly RuntimeChoice[] = ['auto', 'podman', 'docker'];
export type RuntimeName = Exclude<RuntimeChoice, 'auto'>;

/** podman first: rootful podman with runc works where docker needs a daemon and extra capability flags. */
const PREFERENCE: readonly RuntimeName[] = ['podman', 'docker'];

export interface Mount {
  source: string;
  target: string;
  readOnly?: boolean;
}

export interface ContainerSpec {
  image: string;
  /** Arguments after the image (the entrypoint's arguments). */
  args?: readonly string[];
  mounts?: readonly Mount[];
  /** tmpfs mounts, e.g. `/tmp:exec`. */
  tmpfs?: readonly string[];
  /** tmpfs mounts in `--mount type=tmpfs,destination=<dir>` form (exec allowed, unlike `--tmpfs <dir>`). */
  tmpfsMounts?: readonly string[];
  env?: Readonly<Record<string, string>>;
  privileged?: boolean;
  network?: string;
  workdir?: string;
  /** Generated (`bake-<hex>`) when absent. */
  name?: string;
  hostname?: string;
  entrypoint?: string;
  user?: string;
  /** Keep stdin open (`-i`), as run_sdk_container does. */
  interactive?: boolean;
}

export interface Container {
  name: string;
  /** Removes the container now (it is removed at cleanup anyway). */
  remove: () => Promise<void>;
}

export function parseRuntimeChoice(value: string): RuntimeChoice {
  if ((RUNTIME_CHOICES as readonly string[]).includes(value)) return value as RuntimeChoice;
  throw usageError(`unknown container runtime '${value}'`, `use one of: ${RUNTIME_CHOICES.join(', ')}`);
}

export function containerName(prefix = 'bake'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Linux capabilities by number (linux/capability.h), to name those missing from the bounding set. */
const CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
] as const;

/** The capabilities a `CapBnd:` mask (from /proc/self/status) lacks. */
export function missingCapabilities(boundingSet: bigint): string[] {
  return CAPABILITIES.filter((_, bit) => ((boundingSet >> BigInt(bit)) & 1n) === 0n);
}

async function hostMissingCapabilities(): Promise<string[]> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const mask = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return mask ? missingCapabilities(BigInt(`0x${mask}`)) : [];
}

/**
 * How a privileged container is asked for. `--privileged` everywhere it works; docker (unlike podman)
 * fails with it where the host's bounding set lacks a capability ("unable to apply caps", e.g. VMs
 * without SYS_RESOURCE), so there it gets everything else by name, with the same device and
 * confinement freedom (docs/flatcar-facts.md §7).
 */
export function privilegeOptions(runtime: RuntimeName, missing: readonly string[]): string[] {
  if (runtime === 'podman' || missing.length === 0) return ['--privileged'];
  return [
    '--cap-add',
    'ALL',
    ...missing.flatMap((capability) => ['--cap-drop', capability]),
    '--security-opt',
    'apparmor=unconfined',
    '--security-opt',
    'seccomp=unconfined',
    '--device-cgroup-rule',
    'a *:* rwm',
  ];
}

/** The options shared by `create` and `run`, in run_sdk_container's order. */
export function containerOptions(
  spec: ContainerSpec & { name: string },
  privilege: readonly string[] = ['--privileged'],
): string[] {
  const options: string[] = [];
  if (spec.interactive) options.push('-i');
  for (const tmpfs of spec.tmpfs ?? []) options.push('--tmpfs', tmpfs);
  for (const dir of spec.tmpfsMounts ?? []) options.push('--mount', `type=tmpfs,destination=${dir}`);
  for (const mount of spec.mounts ?? [])
    options.push('-v', `${mount.source}:${mount.target}${mount.readOnly ? ':ro' : ''}`);
  if (spec.privileged) options.push(...privilege);
  if (spec.network) options.push('--network', spec.network);
  for (const [key, value] of Object.entries(spec.env ?? {})) options.push('-e', `${key}=${value}`);
  if (spec.workdir) options.push('--workdir', spec.workdir);
  if (spec.user) options.push('--user', spec.user);
  options.push(`--name=${spec.name}`);
  if (spec.hostname) options.push(`--hostname=${spec.hostname}`);
  if (spec.entrypoint !== undefined) options.push('--entrypoint', spec.entrypoint);
  return options;
}

export function createArgs(spec: ContainerSpec & { name: string }, privilege?: readonly string[]): string[] {
  return ['create', ...containerOptions(spec, privilege), spec.image, ...(spec.args ?? [])];
}

export class ContainerRuntime {
  constructor(
    private readonly ctx: Context,
    readonly name: RuntimeName,
  ) {}

  private privilege?: Promise<string[]>;

  private privilegeOptions(): Promise<string[]> {
    this.privilege ??= hostMissingCapabilities().then((missing) => privilegeOptions(this.name, missing));
    return this.privilege;
  }

  private cli(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return this.ctx.run.run(this.name, args, { why: 'run the Flatcar SDK container', privileged: true, ...options });
  }

  async imageExists(image: string): Promise<boolean> {
    const args = this.name === 'podman' ? ['image', 'exists', image] : ['image', 'inspect', image];
    const result = await this.cli(args, { readOnly: true, allowFailure: true });
    return result.exitCode === 0;
  }

  /** Pulls the image unless it is already present. */
  async ensureImage(image: string): Promise<void> {
    if (await this.imageExists(image)) return;
    this.ctx.log.info(`pulling ${image} (the Flatcar SDK is large; this takes a while once)`);
    await this.cli(['pull', image], { why: `pull ${image}` });
  }

  /** Creates a container that the stack removes (forcefully) on success, failure and Ctrl-C. */
  async create(stack: CleanupStack, spec: ContainerSpec): Promise<Container> {
    const name = spec.name ?? containerName();
    const remove = stack.defer(`remove container ${name}`, async () => {
      await this.cli(['rm', '--force', name], { uncancellable: true, allowFailure: true });
    });
    await this.cli(createArgs({ ...spec, name }, await this.privilegeOptions()));
    return { name, remove };
  }

  async start(container: Container): Promise<void> {
    await this.cli(['start', container.name]);
  }

  async exec(
    container: Container,
    command: readonly string[],
    options: RunOptions & { interactive?: boolean } = {},
  ): Promise<RunResult> {
    const { interactive, ...runOptions } = options;
    return this.cli(['exec', ...(interactive ? ['-i'] : []), container.name, ...command], runOptions);
  }

  /** A one-shot container (`run`, for source builds); removed like any other container, even on Ctrl-C. */
  async run(stack: CleanupStack, spec: ContainerSpec, options: RunOptions = {}): Promise<RunResult> {
    const name = spec.name ?? containerName();
    const remove = stack.defer(`remove container ${name}`, async () => {
      await this.cli(['rm', '--force', name], { uncancellable: true, allowFailure: true });
    });
    try {
      return await this.cli(
        [
          'run',
          ...containerOptions({ ...spec, name }, await this.privilegeOptions()),
          spec.image,
          ...(spec.args ?? []),
        ],
        options,
      );
    } finally {
      await remove();
    }
  }
}

/** Picks the runtime: the one named, or with `auto` the first of podman, docker on PATH. */
export async function detectRuntime(
  ctx: Context,
  choice: RuntimeChoice = 'auto',
  path = process.env.PATH ?? '',
): Promise<ContainerRuntime> {
  const candidates = choice === 'auto' ? PREFERENCE : [choice];
  for (const candidate of candidates) {
    if (await findTool(candidate, path)) return new ContainerRuntime(ctx, candidate);
  }
  const wanted = choice === 'auto' ? 'podman or docker' : choice;
  throw toolError(
    `no container runtime found: ${wanted} is not on PATH (needed to run the Flatcar SDK)`,
    'install podman (apt-get install podman) or docker, or use --vendor-route native',
  );
}
