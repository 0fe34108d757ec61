/**
 * Running the VM: everything a boot needs (disk overlay, firmware copy, accelerator) prepared in one work
 * directory, then qemu either on the terminal (interactive) or headless with its serial port in a file,
 * bounded in time and stopped as soon as the guest has said what we wait for.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.ts';
import { ARCHES } from '../core/arch.ts';
import { BakeError, interruptedError } from '../core/errors.ts';
import { createRunner } from '../core/exec.ts';
import { type Accel, type AccelChoice, chooseAccel } from './accel.ts';
import { prepareDisk, type VmDisk } from './disk.ts';
import { type Firmware, findFirmware, firmwareCandidates, prepareFirmware } from './firmware.ts';

export const QEMU = ARCHES['x86-64'].qemuSystem;

export interface VmBase {
  disk: VmDisk;
  firmware: Firmware;
  accel: AccelChoice;
}

export interface VmBaseOptions {
  image: string;
  workDir: string;
  persist: boolean;
  accel?: Accel | undefined;
  firmwareDir?: string | undefined;
}

export async function prepareVm(ctx: Context, options: VmBaseOptions): Promise<VmBase> {
  const disk = await prepareDisk(ctx, options.image, options.workDir, options.persist);
  const firmware = await prepareFirmware(
    await findFirmware(firmwareCandidates(options.image, options.firmwareDir)),
    options.workDir,
  );
  const accel = await chooseAccel(options.accel);
  ctx.log.debug(`accelerator ${accel.accel}: ${accel.why}`);
  return { disk, firmware, accel };
}

/** qemu on the user's terminal; returns its exit code. Ctrl-A X quits, as with Flatcar's launcher. */
export async function runInteractive(ctx: Context, args: readonly string[]): Promise<number> {
  const result = await ctx.run.run(QEMU, args, { why: 'boot the image', inherit: true, allowFailure: true });
  // A stopped qemu is not a failed one to execa; Ctrl-C must still end bake as interrupted.
  if (ctx.signal.aborted) throw interruptedError(ctx.signal, 'running qemu');
  return result.exitCode;
}

export interface HeadlessOptions {
  serialLog: string;
  timeoutMs: number;
  /** Once the serial log contains this, the guest gets `graceMs` to power off before it is stopped. */
  doneMarker: string;
  /**
   * Before the marker: a console that shows the boot is over (serial-failures.ts) on two polls in a row
   * stops the VM (twice, so a prompt caught before the command echoed after it is not taken for idle).
   */
  failed?: (serial: string) => boolean;
  graceMs?: number;
  pollMs?: number;
}

export interface HeadlessResult {
  /** How the run ended: the guest powered off, or bake stopped it. */
  ending: 'exited' | 'stopped-after-report' | 'failed-to-boot' | 'timed-out';
  seconds: number;
  serial: string;
}

async function readLog(path: string): Promise<string> {
  return readFile(path, 'latin1').catch(() => '');
}

/** Runs qemu without a display until it exits, the guest reported and lingered, or the time is up. */
export async function runHeadless(
  ctx: Context,
  args: readonly string[],
  options: HeadlessOptions,
): Promise<HeadlessResult> {
  const started = Date.now();
  const stop = new AbortController();
  const runner = createRunner({ log: ctx.log, dryRun: ctx.dryRun, signal: AbortSignal.any([ctx.signal, stop.signal]) });
  let exited = false;
  const vm = runner.run(QEMU, args, { why: 'boot the image', allowFailure: true }).finally(() => {
    exited = true;
  });
  vm.catch(() => undefined); // observed below; avoids an unhandled rejection while polling
  let ending: HeadlessResult['ending'] = 'exited';
  let reportedAt: number | undefined;
  let failedPolls = 0;
  while (!exited) {
    await sleep(options.pollMs ?? 1000);
    if (exited) break;
    const serial = reportedAt === undefined ? await readLog(options.serialLog) : '';
    if (serial.includes(options.doneMarker)) reportedAt = Date.now();
    failedPolls = reportedAt === undefined && options.failed?.(serial) ? failedPolls + 1 : 0;
    if (failedPolls >= 2) ending = 'failed-to-boot';
    else if (reportedAt !== undefined && Date.now() - reportedAt > (options.graceMs ?? 30_000))
      ending = 'stopped-after-report';
    else if (Date.now() - started > options.timeoutMs) ending = 'timed-out';
    else continue;
    stop.abort(new BakeError('interrupted', `stopping the VM (${ending})`));
    break;
  }
  try {
    await vm;
  } catch (error) {
    if (!stop.signal.aborted || ctx.signal.aborted) throw error;
  }
  if (ctx.signal.aborted) throw interruptedError(ctx.signal, 'booting the image');
  return { ending, seconds: Math.round((Date.now() - started) / 1000), serial: await readLog(options.serialLog) };
}
