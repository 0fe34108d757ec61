/**
 * The qemu command line, built as data from a VmSpec: the options of Flatcar's qemu launcher
 * (docs/flatcar-facts.md §2.4: q35, pflash firmware, virtio disk and net, rng, fw_cfg Ignition) minus
 * what the host cannot do, plus headless serial capture for --check. Pure, so it is unit-tested.
 */
import type { Accel } from './accel.ts';
import type { VmDisk } from './disk.ts';
import type { Firmware } from './firmware.ts';

/** Where Flatcar's Ignition (qemu provider) reads its config. */
export const IGNITION_FW_CFG = 'opt/org.flatcar-linux/config';

export interface PortForward {
  host: number;
  guest: number;
}

export interface VmSpec {
  accel: Accel;
  memoryMiB: number;
  cpus: number;
  firmware: Firmware;
  disk: VmDisk;
  ignitionFile?: string | undefined;
  /** Host ports forwarded to the guest; they listen on 127.0.0.1 only. */
  forwards: PortForward[];
  /** Interactive: serial console on the terminal. Headless: serial to this file, no display. */
  console: { kind: 'terminal' } | { kind: 'file'; path: string };
  /** Exit instead of rebooting (the check powers the guest off and waits for qemu to exit). */
  noReboot: boolean;
  name: string;
  extraArgs: readonly string[];
}

export function parseForward(text: string): PortForward {
  const match = /^(\d{1,5}):(\d{1,5})$/.exec(text);
  const host = Number(match?.[1]);
  const guest = Number(match?.[2]);
  if (!match || host < 1 || host > 65535 || guest < 1 || guest > 65535) {
    throw new RangeError(`'${text}' is not host:guest ports`);
  }
  return { host, guest };
}

function pflash(unit: number, file: string, format: string, readonly: boolean): string[] {
  return ['-drive', `if=pflash,unit=${unit},file=${file},format=${format}${readonly ? ',readonly=on' : ''}`];
}

/** qemu's -drive/-fw_cfg option syntax treats ',' as a separator; a literal comma is written ',,'. */
function optionValue(path: string): string {
  return path.replaceAll(',', ',,');
}

export function qemuArgs(spec: VmSpec): string[] {
  const forwards = spec.forwards.map((f) => `,hostfwd=tcp:127.0.0.1:${f.host}-:${f.guest}`).join('');
  const args = [
    '-name',
    spec.name,
    '-machine',
    `q35,accel=${spec.accel}`,
    '-cpu',
    spec.accel === 'kvm' ? 'host' : 'max',
    '-smp',
    String(spec.cpus),
    '-m',
    String(spec.memoryMiB),
    ...pflash(0, optionValue(spec.firmware.code), spec.firmware.codeFormat, true),
    ...pflash(1, optionValue(spec.firmware.vars), spec.firmware.varsFormat, false),
    '-drive',
    `if=none,id=blk,file=${optionValue(spec.disk.path)},format=${spec.disk.format}`,
    '-device',
    'virtio-blk-pci,drive=blk,bootindex=1',
    // romfile= drops the NIC's boot ROM: the firmware would otherwise try PXE before the disk's fallbacks.
    '-netdev',
    `user,id=eth0,hostname=${spec.name}${forwards}`,
    '-device',
    'virtio-net-pci,netdev=eth0,romfile=',
    '-object',
    'rng-random,filename=/dev/urandom,id=rng0',
    '-device',
    'virtio-rng-pci,rng=rng0',
  ];
  if (spec.ignitionFile) args.push('-fw_cfg', `name=${IGNITION_FW_CFG},file=${optionValue(spec.ignitionFile)}`);
  if (spec.console.kind === 'terminal') args.push('-nographic');
  else args.push('-display', 'none', '-monitor', 'none', '-serial', `file:${spec.console.path}`);
  if (spec.noReboot) args.push('-no-reboot');
  return [...args, ...spec.extraArgs];
}
