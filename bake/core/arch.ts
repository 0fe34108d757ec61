/**
 * The two architectures Flatcar ships, and every name they go by: systemd's ARCHITECTURE= value (which is
 * what `--arch` takes), Flatcar's board, Go/Debian-style names used by upstream download URLs, the kernel's
 * machine name and the ELF machine number (for linting binaries).
 */
import { usageError } from './errors.ts';

export type Arch = 'x86-64' | 'arm64';

export interface ArchNames {
  board: 'amd64-usr' | 'arm64-usr';
  /** Go / Debian / Flatcar release-server name: amd64, arm64. */
  goarch: 'amd64' | 'arm64';
  /** uname -m / Rust / most tarballs: x86_64, aarch64. */
  machine: 'x86_64' | 'aarch64';
  /** e_machine in an ELF header: EM_X86_64 = 62, EM_AARCH64 = 183. */
  elfMachine: number;
  qemuSystem: string;
}

export const ARCHES: Record<Arch, ArchNames> = {
  'x86-64': {
    board: 'amd64-usr',
    goarch: 'amd64',
    machine: 'x86_64',
    elfMachine: 62,
    qemuSystem: 'qemu-system-x86_64',
  },
  arm64: {
    board: 'arm64-usr',
    goarch: 'arm64',
    machine: 'aarch64',
    elfMachine: 183,
    qemuSystem: 'qemu-system-aarch64',
  },
};

/** The names Flatcar's boards, Go, Debian and the kernel use for each arch, accepted as aliases. */
const ARCH_ALIASES: Readonly<Record<string, Arch>> = {
  amd64: 'x86-64',
  x86_64: 'x86-64',
  'amd64-usr': 'x86-64',
  x64: 'x86-64',
  aarch64: 'arm64',
  'arm64-usr': 'arm64',
};

export function parseArch(value: string): Arch {
  if (value in ARCHES) return value as Arch;
  const alias = ARCH_ALIASES[value.toLowerCase()];
  if (alias) return alias;
  throw usageError(
    `unknown arch '${value}'`,
    `use one of: ${Object.keys(ARCHES).join(', ')} (or amd64, x86_64, aarch64)`,
  );
}
