/** The boot tests' shared pieces: `bake boot --check` run through the CLI, the sysext unit they look for, leftovers. */
import assert from 'node:assert/strict';
import { execa } from 'execa';
import type { BootReport } from '../../bake/boot/check.ts';
import { runBake, type Workspace } from './bake-cli.ts';

/** How long one VM may run (TCG on a slow host). */
export const VM_SECONDS = 240;

/** A oneshot that leaves a mark, started the bakery way: an Upholds= drop-in for multi-user.target. */
export function serviceFiles(name: string, exec: string): Record<string, string> {
  return {
    [`usr/lib/systemd/system/${name}.service`]: `[Unit]\nDescription=${name} from a sysext\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=${exec}\n`,
    [`usr/lib/systemd/system/multi-user.target.d/10-${name}.conf`]: `[Unit]\nUpholds=${name}.service\n`,
  };
}

/** The files of the `hello` sysext the boot tests bake: a oneshot that writes /run/hello-mark. */
export const HELLO_FILES: Readonly<Record<string, string>> = {
  'usr/bin/hello-mark': '#!/bin/sh\necho hello > /run/hello-mark\n',
  ...serviceFiles('hello', '/usr/bin/hello-mark'),
};

/** `bake boot --check --json` on `image`, bounded by VM_SECONDS; its exit code, report and stderr. */
export async function bootCheck(
  ws: Workspace,
  image: string,
  extra: string[] = [],
): Promise<{ exitCode: number; report: BootReport; stderr: string }> {
  const run = await runBake(
    ws,
    ['boot', '--check', '--json', '--timeout', String(VM_SECONDS), '--memory', '1024', ...extra, image],
    {},
    (VM_SECONDS + 60) * 1000,
  );
  const output = JSON.parse(run.stdout) as { ok: boolean; report: BootReport };
  assert.equal(output.ok, output.report.pass);
  return { exitCode: run.exitCode, report: output.report, stderr: run.stderr };
}

/**
 * bake's VMs that outlived their bake: orphans (reparented to PID 1). Another test's VM, still running under
 * its own bake, is not a leftover, and the boot tests run beside each other.
 */
export async function qemuLeft(): Promise<string> {
  const { stdout } = await execa('ps', ['-eo', 'ppid=,args='], { reject: false });
  return stdout
    .split('\n')
    .filter((line) => /^\s*1\s/.test(line) && line.includes('qemu-system') && line.includes('bake-boot-check'))
    .join('\n');
}
