/**
 * Boots that will never reach the guest check, recognised on the serial console as soon as they show:
 * the firmware finding nothing to boot (OVMF then waits at its built-in shell's prompt, or says so), GRUB without its
 * config, a kernel panic, systemd in emergency mode. A check stops there with a boot error instead of
 * waiting out its whole timeout.
 */

export interface BootFailure {
  /** What the console showed, for the report. */
  problem: string;
  /** What to do about it. */
  hint: string;
}

const NOT_BOOTABLE_HINT =
  'the image has no EFI bootloader the firmware could start: boot a Flatcar release image (bake --release …), not a layout-only stand-in';

/** Console patterns of a boot that is over, in the order a boot would show them. */
const BOOT_FAILURES: ReadonlyArray<BootFailure & { pattern: RegExp }> = [
  // The shell itself is no failure (startup.nsh may start a kernel from it, and its echo reads `Shell> fs0:`):
  // the console ending at its idle prompt is.
  {
    pattern: /(?:^|\n)(?:Shell|FS\d+:\\[^\n]*)> *$/,
    problem: 'the firmware found nothing to boot and stopped at the UEFI shell prompt',
    hint: NOT_BOOTABLE_HINT,
  },
  {
    pattern: /No bootable (option or )?device/i,
    problem: 'the firmware found no bootable device',
    hint: NOT_BOOTABLE_HINT,
  },
  {
    pattern: /^grub rescue> /m,
    problem: 'GRUB could not find its modules or config (grub rescue)',
    hint: "the image's EFI or boot partition is damaged: bake it again from a verified release",
  },
  {
    pattern: /Kernel panic - not syncing/,
    problem: 'the guest kernel panicked',
    hint: 'see the serial log (--serial-log) for the panic; the kernel or its root filesystem is broken',
  },
  {
    pattern: /You are in emergency mode|Give root password for maintenance/,
    problem: 'the guest fell into emergency mode',
    hint: 'see the serial log (--serial-log): a mount or a required unit failed during boot',
  },
];

// biome-ignore lint/suspicious/noControlCharactersInRegex: it strips control characters from serial text
const CONTROL = /\x1b\[[0-9;=?]*[A-Za-z]|[\x00-\x08\x0b-\x1f]/g;

/** Serial console text without the escape sequences the firmware paints its screen with. */
export function plainSerial(serial: string): string {
  return serial.replace(CONTROL, '');
}

/** The first boot failure the console shows, if any. */
export function detectBootFailure(serial: string): BootFailure | undefined {
  const text = plainSerial(serial);
  const found = BOOT_FAILURES.find(({ pattern }) => pattern.test(text));
  return found ? { problem: found.problem, hint: found.hint } : undefined;
}
