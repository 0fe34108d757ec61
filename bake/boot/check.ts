/**
 * `bake boot --check` and `bake --smoke-test`: boot the image headless on a throwaway overlay with an
 * Ignition config that adds the guest check (guest-check.ts), wait for its report on the serial port,
 * and turn it into a BootReport: per extension, merged or not and how its units fared.
 */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import { tempDir } from '../core/cleanup.ts';
import { type IgnitionConfig, mergeIgnition, toIgnition } from '../provision/ignition.ts';
import { emptyProvisioning } from '../provision/model.ts';
import type { Accel } from './accel.ts';
import { checkProvisioning, type ExtensionReport, parseCheckReport } from './guest-check.ts';
import { bootIgnition, type ServedExtension, servedProvisioning } from './ignition-input.ts';
import { qemuArgs } from './qemu.ts';
import { detectBootFailure, plainSerial } from './serial-failures.ts';
import { serveFiles } from './server.ts';
import { DEFAULT_CHECK_TIMEOUT_SECONDS } from './timeouts.ts';
import { prepareVm, runHeadless } from './vm.ts';

export interface BootCheckOptions {
  image: string;
  extensions: string[];
  timeoutSeconds?: number | undefined;
  memoryMiB?: number;
  firmwareDir?: string;
  accel?: Accel;
  /** The user's own Ignition config, booted together with the check. */
  ignition?: IgnitionConfig;
  /** Extensions handed to the guest over HTTP (and checked too). */
  served?: ServedExtension[];
  extraQemuArgs?: string[];
  /** Keep a copy of the guest's serial console output here. */
  serialLogCopy?: string;
}

export interface BootReport {
  pass: boolean;
  extensions: ExtensionReport[];
  /** `systemctl is-system-running` in the guest when it reported. */
  systemState?: string;
  accel: Accel;
  seconds: number;
  /** Why the check failed as a whole (no report, timeout), when it did. */
  problem?: string;
  /** What to do about `problem`, when the console showed why the guest never booted. */
  hint?: string;
  /** `systemd-sysext status` in the guest. */
  sysextStatus: string[];
  /** systemd-sysext's own journal messages in the guest (why a merge failed). */
  sysextLog: string[];
  /** The end of the serial log, to diagnose a boot that never reported. */
  serialTail: string[];
}

const DONE_MARKER = 'BAKE-CHECK end';

function tail(serial: string, lines: number): string[] {
  return plainSerial(serial)
    .split('\n')
    .map((line) => line.trimEnd())
    .filter(Boolean)
    .slice(-lines);
}

export async function bootCheck(ctx: Context, options: BootCheckOptions): Promise<BootReport> {
  await using work = await tempDir('bake-boot-check');
  const vm = await prepareVm(ctx, {
    image: options.image,
    workDir: work.path,
    persist: false,
    accel: options.accel,
    firmwareDir: options.firmwareDir,
  });
  const served = options.served ?? [];
  await using server = served.length > 0 ? await serveFiles(served.map((extension) => extension.path)) : undefined;
  const names = [...new Set([...options.extensions, ...served.map((extension) => extension.name)])];
  const base = await bootIgnition(
    options.ignition,
    server ? await servedProvisioning(served, server.guestUrl) : emptyProvisioning(),
    [],
  );
  const ignitionFile = join(work.path, 'config.ign');
  await writeFile(ignitionFile, JSON.stringify(mergeIgnition(base, toIgnition(checkProvisioning(names)))));
  const serialLog = join(work.path, 'serial.log');
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_CHECK_TIMEOUT_SECONDS;
  const args = qemuArgs({
    accel: vm.accel.accel,
    memoryMiB: options.memoryMiB ?? 2048,
    cpus: Math.min(2, cpus().length),
    firmware: vm.firmware,
    disk: vm.disk,
    ignitionFile,
    forwards: [],
    console: { kind: 'file', path: serialLog },
    noReboot: true,
    name: 'bake-boot-check',
    extraArgs: options.extraQemuArgs ?? [],
  });
  ctx.log.info(
    `booting ${options.image} headless (${vm.accel.accel}, at most ${timeoutSeconds} s) to check ${names.join(', ') || 'its extensions'}`,
  );
  const failed = (serial: string) => detectBootFailure(serial) !== undefined;
  const run = await runHeadless(ctx, args, {
    serialLog,
    timeoutMs: timeoutSeconds * 1000,
    doneMarker: DONE_MARKER,
    failed,
  });
  if (options.serialLogCopy) await writeFile(options.serialLogCopy, run.serial, 'latin1');
  const guest = parseCheckReport(run.serial, names);
  const failure = guest.complete ? undefined : detectBootFailure(run.serial);
  const problem = guest.complete
    ? undefined
    : failure
      ? failure.problem
      : run.ending === 'timed-out'
        ? `the guest did not report within ${timeoutSeconds} s`
        : 'the VM stopped before the guest reported';
  return {
    pass: problem === undefined && guest.extensions.every((extension) => extension.pass),
    extensions: guest.extensions,
    ...(guest.systemState ? { systemState: guest.systemState } : {}),
    accel: vm.accel.accel,
    seconds: run.seconds,
    ...(problem ? { problem } : {}),
    ...(failure ? { hint: failure.hint } : {}),
    sysextStatus: guest.sysextStatus,
    sysextLog: guest.sysextLog,
    serialTail: problem ? tail(run.serial, 30) : [],
  };
}

/** A few lines for humans: one per extension, then the verdict. */
function extensionLine(extension: ExtensionReport): string {
  const units = extension.units
    .map((unit) => `${unit.unit} ${unit.ok ? 'ran' : `${unit.activeState}/${unit.result}`}`)
    .join(', ');
  return `${extension.name}: ${extension.merged ? 'merged' : 'not merged'}${units ? `; ${units}` : ''}${extension.problem ? ` (${extension.problem})` : ''}`;
}

/** What failed, one line each: every extension that did not pass, and the check's own problem. */
export function failures(report: BootReport): string[] {
  return [
    ...report.extensions.filter((extension) => !extension.pass).map(extensionLine),
    ...(report.problem ? [report.problem] : []),
  ];
}

export function formatReport(report: BootReport): string {
  const lines = report.extensions.map((extension) => `${extension.pass ? 'ok  ' : 'FAIL'} ${extensionLine(extension)}`);
  if (report.extensions.length === 0 && !report.problem) lines.push('no extensions in /etc/extensions to check');
  if (report.problem)
    lines.push(
      `FAIL ${report.problem}${report.hint ? `: ${report.hint}` : ''}`,
      ...report.serialTail.map((line) => `  | ${line}`),
    );
  lines.push(
    `boot check ${report.pass ? 'passed' : 'failed'} in ${report.seconds} s (${report.accel}${report.systemState ? `, system ${report.systemState}` : ''})`,
  );
  return `${lines.join('\n')}\n`;
}
