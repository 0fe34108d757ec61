/**
 * `bake boot` without --check: the VM on the user's serial console (Ctrl-A X quits), with the built-in
 * server for --serve files running alongside. Both stop when qemu exits, on error and on Ctrl-C.
 */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import { tempDir } from '../core/cleanup.ts';
import type { IgnitionConfig } from '../provision/ignition.ts';
import { emptyProvisioning } from '../provision/model.ts';
import type { Accel } from './accel.ts';
import { bootIgnition, type ServedExtension, servedProvisioning, userSshKeys } from './ignition-input.ts';
import { type PortForward, qemuArgs } from './qemu.ts';
import { serveFiles } from './server.ts';
import { prepareVm, runInteractive } from './vm.ts';

export interface InteractiveBootOptions {
  image: string;
  persist: boolean;
  accel?: Accel | undefined;
  memoryMiB: number;
  firmwareDir?: string | undefined;
  ignition?: IgnitionConfig | undefined;
  served: ServedExtension[];
  sshPort: number;
  forwards: PortForward[];
  extraQemuArgs: string[];
}

/** Boots on the terminal; returns qemu's exit code. */
export async function bootInteractive(ctx: Context, options: InteractiveBootOptions): Promise<number> {
  await using work = await tempDir('bake-boot');
  await using server =
    options.served.length > 0 ? await serveFiles(options.served.map((extension) => extension.path)) : undefined;
  const vm = await prepareVm(ctx, {
    image: options.image,
    workDir: work.path,
    persist: options.persist,
    accel: options.accel,
    firmwareDir: options.firmwareDir,
  });
  const served = server ? await servedProvisioning(options.served, server.guestUrl) : emptyProvisioning();
  const config = await bootIgnition(options.ignition, served, options.ignition ? [] : await userSshKeys());
  const ignitionFile = join(work.path, 'config.ign');
  await writeFile(ignitionFile, JSON.stringify(config));
  const args = qemuArgs({
    accel: vm.accel.accel,
    memoryMiB: options.memoryMiB,
    cpus: cpus().length,
    firmware: vm.firmware,
    disk: vm.disk,
    ignitionFile,
    forwards: [{ host: options.sshPort, guest: 22 }, ...options.forwards],
    console: { kind: 'terminal' },
    noReboot: false,
    name: 'bake-boot',
    extraArgs: options.extraQemuArgs,
  });
  const persisted = options.persist ? 'changes are written to the image' : 'changes are thrown away';
  ctx.log.info(`booting ${options.image} (${vm.accel.accel}: ${vm.accel.why}; ${persisted})`);
  ctx.log.info(`ssh -p ${options.sshPort} core@127.0.0.1 once it is up; Ctrl-A X stops the VM`);
  if (server)
    ctx.log.info(
      `serving ${options.served.map((extension) => extension.name).join(', ')} to the guest at ${server.guestUrl}`,
    );
  return await runInteractive(ctx, args); // awaited: the work dir and server must outlive qemu
}
