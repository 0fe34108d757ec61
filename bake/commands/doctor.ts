/**
 * `bake doctor`: what this host can and cannot do, for a newcomer's first hour. Each finding says what is
 * there, what a missing piece disables and the package that brings it; the tools come from the one table
 * of host tools (HOST_TOOLS), the firmware, accelerator and privilege checks from the code that uses them.
 */
import { Command } from 'commander';
import { chooseAccel } from '../boot/accel.ts';
import { findFirmware, HOST_FIRMWARE, HOST_FIRMWARE_PACKAGE } from '../boot/firmware.ts';
import { addCommonOptions, type CommonOptions, contextFromOptions } from '../cli-context.ts';
import { exitCodeFor, toolError } from '../core/errors.ts';
import { findTool, HOST_TOOLS, isRootUser, type Runner, requirePrivileges } from '../core/exec.ts';
import { formatTable } from './table.ts';

type Status = 'ok' | 'missing' | 'slow';

export interface Finding {
  area: string;
  name: string;
  status: Status;
  /** What is there, or what its absence disables. */
  detail: string;
  /** What to do about it, when it is not ok. */
  fix?: string;
  /** A plain bake cannot run without it. */
  everyBake: boolean;
}

/** One finding per tool, or per group of tools that stand in for each other (any one will do). */
async function toolFindings(path: string): Promise<Finding[]> {
  const groups = new Map<string, string[]>();
  for (const [name, tool] of Object.entries(HOST_TOOLS))
    groups.set(tool.anyOf ?? name, [...(groups.get(tool.anyOf ?? name) ?? []), name]);
  return Promise.all(
    [...groups.values()].map(async (names) => {
      const found = (
        await Promise.all(names.map(async (name) => ((await findTool(name, path)) ? name : undefined)))
      ).filter((name) => name !== undefined);
      const first = HOST_TOOLS[names[0]!]!;
      const area = first.anyOf === 'container runtime' ? 'container runtime' : 'tool';
      const base = { area, name: names.join(' | '), everyBake: first.everyBake ?? false };
      if (found.length > 0) return { ...base, status: 'ok', detail: `found ${found.join(', ')}` };
      const packages = [...new Set(names.map((name) => HOST_TOOLS[name]!.package))];
      return {
        ...base,
        status: 'missing',
        detail: `without it bake cannot ${first.needed}`,
        fix: `apt-get install ${packages[0]}`,
      };
    }),
  );
}

/** Root is no longer needed for a bake: only the SDK vendor route and building btrfs sysexts ask for it. */
async function privilegeFinding(runner: Runner): Promise<Finding> {
  const needs = 'the SDK vendor route or build btrfs sysexts';
  const base = { area: 'privileges', name: 'root or passwordless sudo', everyBake: false };
  if (isRootUser()) return { ...base, status: 'ok', detail: 'running as root' };
  try {
    await requirePrivileges(runner, needs, false);
    return { ...base, status: 'ok', detail: 'sudo works without a password' };
  } catch {
    return {
      ...base,
      status: 'missing',
      detail: `bakes run as this user; without it bake cannot run ${needs}`,
      fix: 'run those as root, or allow this user passwordless sudo',
    };
  }
}

async function firmwareFinding(): Promise<Finding> {
  const base = { area: 'firmware', name: 'UEFI (OVMF)', everyBake: false };
  try {
    return { ...base, status: 'ok', detail: (await findFirmware(HOST_FIRMWARE)).code };
  } catch {
    return {
      ...base,
      status: 'missing',
      detail: 'bake boot needs --firmware-dir (a qemu_uefi release ships its own)',
      fix: `apt-get install ${HOST_FIRMWARE_PACKAGE}`,
    };
  }
}

async function accelFinding(): Promise<Finding> {
  const choice = await chooseAccel(undefined);
  const base = { area: 'acceleration', name: 'KVM', everyBake: false };
  if (choice.accel === 'kvm') return { ...base, status: 'ok', detail: choice.why };
  return {
    ...base,
    status: 'slow',
    detail: `${choice.why}: bake boot and --smoke-test run under TCG, many times slower`,
    fix: 'enable nested virtualisation or run on a host with KVM',
  };
}

export async function diagnose(runner: Runner, path = process.env.PATH ?? ''): Promise<Finding[]> {
  return [...(await toolFindings(path)), await privilegeFinding(runner), await firmwareFinding(), await accelFinding()];
}

function printFindings(findings: readonly Finding[]): void {
  const rows = findings.map((f) => [
    f.status === 'ok' ? 'ok' : f.status.toUpperCase(),
    f.area,
    f.name,
    f.fix ? `${f.detail} (${f.fix})` : f.detail,
  ]);
  process.stdout.write(`${formatTable([['STATUS', 'AREA', 'WHAT', 'DETAIL'], ...rows])}\n`);
}

export function command(): Command {
  const program = new Command('doctor').description(
    'check the host tools, privileges, container runtimes, firmware and acceleration bake uses',
  );
  addCommonOptions(program, { dryRun: false, endpoints: [] });
  program.action(async (flags: CommonOptions) => {
    const ctx = contextFromOptions(flags);
    const findings = await diagnose(ctx.run);
    const blocking = findings.filter((finding) => finding.everyBake && finding.status !== 'ok');
    const problem =
      blocking.length > 0
        ? toolError(
            `a bake needs what is missing here: ${blocking.map((finding) => finding.name).join(', ')}`,
            'install the packages listed above',
          )
        : undefined;
    if (!ctx.json) {
      printFindings(findings);
      if (problem) throw problem;
      return;
    }
    // One JSON document on stdout: the findings carry the failure, the exit code says it.
    process.stdout.write(`${JSON.stringify({ ok: !problem, findings }, null, 2)}\n`);
    if (problem) process.exitCode = exitCodeFor(problem);
  });
  return program;
}
