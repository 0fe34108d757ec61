/**
 * `bake boot [image] [options] [-- qemu args]`: try a baked image in QEMU, interactively on the serial
 * console, or headless with --check, which proves that each extension was merged and its units ran.
 */
import { access } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { type Accel, parseAccel } from '../boot/accel.ts';
import { bootCheck, failures, formatReport } from '../boot/check.ts';
import { parseServe, readUserIgnition } from '../boot/ignition-input.ts';
import { bootInteractive } from '../boot/interactive.ts';
import { type PortForward, parseForward } from '../boot/qemu.ts';
import { DEFAULT_CHECK_TIMEOUT_SECONDS } from '../boot/timeouts.ts';
import { addCommonOptions, type CommonOptions, collect, contextFromOptions, wholeNumber } from '../cli-context.ts';
import { bootError, exitCodeFor, usageError } from '../core/errors.ts';
import { printJson } from './json-output.ts';

interface BootFlags extends CommonOptions {
  ignition?: string;
  butane?: string;
  serve?: string[];
  forward?: PortForward[];
  sshPort: number;
  memory: number;
  accel?: Accel;
  persist?: boolean;
  check?: boolean;
  timeout: number;
  extension?: string[];
  firmwareDir?: string;
  serialLog?: string;
}

/** What a qemu_uefi bake leaves in the output directory, then the generic image. */
const DEFAULT_IMAGES = ['flatcar_production_qemu_uefi_image.img', 'flatcar_production_image.bin'];

function forward(value: string, previous: PortForward[] = []): PortForward[] {
  try {
    return [...previous, parseForward(value)];
  } catch {
    throw usageError(`cannot read --forward '${value}'`, 'use host:guest ports, e.g. -f 8080:80');
  }
}

export function command(): Command {
  const program = new Command('boot')
    .description('Boot a baked image in QEMU (UEFI), interactively or headless with --check.')
    .usage('[image] [options] [-- qemu args]')
    .argument(
      '[args...]',
      'the image (default: the qemu_uefi or generic image in the current directory), then qemu args after --',
    )
    .option('--ignition <file>', 'Ignition config for the first boot (default: one bake generates)')
    .option('--butane <file>', 'Butane config, turned into Ignition by the butane tool')
    .option('--serve <name:file>', 'serve a sysext to the guest and provision it (repeatable)', collect)
    .option('-f, --forward <host:guest>', 'forward a TCP port from 127.0.0.1 (repeatable)', forward)
    .option('--ssh-port <port>', "host port forwarded to the guest's SSH", wholeNumber('--ssh-port', 1, 65535), 2222)
    .option('--memory <MiB>', 'guest memory', wholeNumber('--memory', 256, 1 << 20), 2048)
    .addOption(new Option('--accel <accel>', 'kvm or tcg (default: kvm when it works)').argParser(parseAccel))
    .option('--persist', 'write to the image instead of a throwaway overlay')
    .option('--check', 'boot headless, report per extension whether it merged and its units ran, power off')
    .option(
      '--extension <name>',
      'with --check: an extension that must be merged (default: all in /etc/extensions)',
      collect,
    )
    .option(
      '--timeout <seconds>',
      'with --check: the longest the boot may take',
      wholeNumber('--timeout', 10, 86400),
      DEFAULT_CHECK_TIMEOUT_SECONDS,
    )
    .option('--firmware-dir <dir>', 'UEFI firmware (*_efi_code / *_efi_vars or OVMF_CODE/OVMF_VARS) to use')
    .option('--serial-log <file>', "with --check: keep the guest's console output");
  addCommonOptions(program, { dryRun: false, endpoints: [] });
  program.action(async (operands: string[], flags: BootFlags) => {
    const ctx = contextFromOptions(flags);
    const { image, qemuArgs } = await splitOperands(operands);
    if (flags.ignition && flags.butane) throw usageError('give --ignition or --butane, not both');
    const ignition = await readUserIgnition(ctx, { ignition: flags.ignition, butane: flags.butane });
    const served = (flags.serve ?? []).map(parseServe);
    if (!flags.check) {
      if ((flags.extension ?? []).length > 0) throw usageError('--extension only goes with --check');
      const options = {
        image,
        persist: flags.persist ?? false,
        memoryMiB: flags.memory,
        ignition,
        served,
        sshPort: flags.sshPort,
        forwards: flags.forward ?? [],
        extraQemuArgs: qemuArgs,
      };
      process.exitCode = await bootInteractive(ctx, { ...options, accel: flags.accel, firmwareDir: flags.firmwareDir });
      return;
    }
    if (flags.persist) throw usageError('--check always boots on a throwaway overlay', 'drop --persist');
    const report = await bootCheck(ctx, {
      image,
      extensions: flags.extension ?? [],
      timeoutSeconds: flags.timeout,
      memoryMiB: flags.memory,
      served,
      extraQemuArgs: qemuArgs,
      ...(ignition ? { ignition } : {}),
      ...(flags.accel ? { accel: flags.accel } : {}),
      ...(flags.firmwareDir ? { firmwareDir: flags.firmwareDir } : {}),
      ...(flags.serialLog ? { serialLogCopy: flags.serialLog } : {}),
    });
    const failure = report.pass
      ? undefined
      : bootError(`boot check failed: ${failures(report)[0] ?? 'see the report'}`);
    if (ctx.json) printJson({ report }, failure);
    else process.stdout.write(formatReport(report));
    if (failure) process.exitCode = exitCodeFor(failure);
  });
  return program;
}

/** Operands are the image (optional) and, after `--`, qemu's own arguments. */
async function splitOperands(operands: string[]): Promise<{ image: string; qemuArgs: string[] }> {
  const dashDash = process.argv.indexOf('--');
  const qemuCount = dashDash === -1 ? 0 : process.argv.length - dashDash - 1;
  const own = operands.slice(0, operands.length - qemuCount);
  const qemuArgs = operands.slice(operands.length - qemuCount);
  if (own.length > 1)
    throw usageError(`unexpected arguments: ${own.slice(1).join(' ')}`, 'put qemu arguments after --');
  if (own[0]) return { image: own[0], qemuArgs };
  for (const candidate of DEFAULT_IMAGES) {
    if (
      await access(candidate).then(
        () => true,
        () => false,
      )
    )
      return { image: candidate, qemuArgs };
  }
  throw usageError(
    'no image given and none in the current directory',
    `name one, or run where bake wrote ${DEFAULT_IMAGES.join(' or ')}`,
  );
}
