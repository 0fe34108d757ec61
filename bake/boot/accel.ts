/**
 * KVM when it works, TCG otherwise. /dev/kvm existing is not enough: on PVM hosts (nested KVM for
 * cloud VMs, `kvm_pvm` module) the device opens fine but guests hang after the firmware
 * (docs/flatcar-facts.md §7), so a PVM host falls back to TCG too.
 */
import { access, constants } from 'node:fs/promises';
import { usageError } from '../core/errors.ts';

export type Accel = 'kvm' | 'tcg';

export interface AccelProbe {
  /** /dev/kvm can be opened read-write by this user. */
  kvmUsable(): Promise<boolean>;
  /** The kernel's KVM is PVM, which hangs ordinary guests. */
  kvmIsPvm(): Promise<boolean>;
}

const canAccess = (path: string, mode: number) =>
  access(path, mode).then(
    () => true,
    () => false,
  );

export const hostProbe: AccelProbe = {
  kvmUsable: () => canAccess('/dev/kvm', constants.R_OK | constants.W_OK),
  kvmIsPvm: () => canAccess('/sys/module/kvm_pvm', constants.F_OK),
};

export interface AccelChoice {
  accel: Accel;
  why: string;
}

export function parseAccel(value: string): Accel {
  if (value === 'kvm' || value === 'tcg') return value;
  throw usageError(`unknown --accel '${value}'`, 'use kvm or tcg');
}

export async function chooseAccel(requested: Accel | undefined, probe: AccelProbe = hostProbe): Promise<AccelChoice> {
  if (requested) return { accel: requested, why: 'requested' };
  if (!(await probe.kvmUsable())) return { accel: 'tcg', why: '/dev/kvm is not usable' };
  if (await probe.kvmIsPvm()) return { accel: 'tcg', why: 'KVM here is PVM, which hangs guests' };
  return { accel: 'kvm', why: '/dev/kvm is usable' };
}
