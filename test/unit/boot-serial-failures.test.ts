/**
 * Recognising a boot that is over from its serial console: OVMF's shell (recorded from OVMF on a disk with
 * nothing to boot), a kernel panic, emergency mode, and no false alarm on a boot that goes well.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectBootFailure } from '../../bake/boot/serial-failures.ts';

/** Recorded: OVMF (Debian 12, TCG) with a blank 64 MiB disk, as the firmware painted it. */
const OVMF_SHELL =
  '\u001b[2J\u001b[01;01H\u001b[=3h\u001b[2J\u001b[01;01HBdsDxe: failed to load Boot0001 "UEFI Misc Device" from PciRoot(0x0)/Pci(0x2,0x0): Not Found\r\n' +
  'BdsDxe: loading Boot0002 "EFI Internal Shell" from Fv(7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1)/FvFile(7C04A583-9E3E-4F1C-AD65-E05268D0B4D1)\r\n' +
  'BdsDxe: starting Boot0002 "EFI Internal Shell" from Fv(7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1)/FvFile(7C04A583-9E3E-4F1C-AD65-E05268D0B4D1)\r\n' +
  '\u001b[2J\u001b[01;01H\u001b[01;01HUEFI Interactive Shell v2.2\r\nEDK II\r\nUEFI v2.70 (EDK II, 0x00010000)\r\n' +
  '\u001b[1m\u001b[33m\u001b[40mMapping table\u001b[0m\u001b[37m\u001b[40m\r\n\u001b[1m\u001b[33m\u001b[40m     BLK0:\u001b[0m\u001b[37m\u001b[40m \u001b[1m\u001b[37m\u001b[40mAlias(s):\u001b[0m\u001b[37m\u001b[40m\r\n' +
  '          PciRoot(0x0)/Pci(0x2,0x0)\r\n\u001b[07;01HPress \u001b[1m\u001b[37m\u001b[40mESC\u001b[0m\u001b[37m\u001b[40m in 1 seconds to skip \u001b[1m\u001b[33m\u001b[40mstartup.nsh\u001b[0m\u001b[37m\u001b[40m or any other key to continue.\r\n' +
  '\u001b[08;01H\u001b[1m\u001b[33m\u001b[40mShell> \u001b[0m\u001b[37m\u001b[40m';

/** The bootable test fixture's way in: the shell runs startup.nsh, which starts the kernel (an EFI stub). */
const SHELL_STARTS_KERNEL =
  'UEFI Interactive Shell v2.2\r\nEDK II\r\nPress ESC in 1 seconds to skip startup.nsh or any other key to continue.\r\n' +
  'Shell> fs0:\r\nFS0:\\> \\vmlinuz.efi initrd=\\initrd.img root=LABEL=ROOT console=ttyS0\r\n';

const KERNEL_PANIC =
  '[    1.912345] VFS: Cannot open root device "PARTUUID=7130c94a-213a-4e5a-8e26-6cce9662f132" or unknown-block(0,0): error -6\r\n' +
  '[    1.913002] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\r\n' +
  '[    1.913500] CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.6.60-flatcar #1\r\n';

const EMERGENCY =
  '[  OK  ] Reached target Emergency Mode.\r\nYou are in emergency mode. After logging in, type "journalctl -xb" to view\r\nsystem logs, "systemctl reboot" to reboot.\r\n';

const GOOD_BOOT =
  'BdsDxe: loading Boot0001 "UEFI Misc Device" from PciRoot(0x0)/Pci(0x2,0x0)\r\nBdsDxe: starting Boot0001 "UEFI Misc Device" from PciRoot(0x0)/Pci(0x2,0x0)\r\n' +
  '\u001b[0m\u001b[30m\u001b[47mWelcome to GRUB!\r\n[    0.000000] Linux version 6.6.60-flatcar\r\n' +
  '[  OK  ] Reached target multi-user.target - Multi-User System.\r\nThis is localhost (Linux x86_64 6.6.60-flatcar) 12:00:00\r\nlocalhost login: ';

test('OVMF dropping to its shell is a failed boot with a hint about the missing bootloader', () => {
  const failure = detectBootFailure(OVMF_SHELL);
  assert.equal(failure?.problem, 'the firmware found nothing to boot and stopped at the UEFI shell prompt');
  assert.match(failure.hint, /no EFI bootloader/);
});

test('a kernel panic and emergency mode are failed boots', () => {
  assert.equal(detectBootFailure(KERNEL_PANIC)?.problem, 'the guest kernel panicked');
  assert.equal(detectBootFailure(EMERGENCY)?.problem, 'the guest fell into emergency mode');
  assert.equal(
    detectBootFailure('BdsDxe: No bootable option or device was found.\r\n')?.problem,
    'the firmware found no bootable device',
  );
});

test('a shell that runs startup.nsh is no failure until it is back at an idle prompt', () => {
  assert.equal(detectBootFailure(SHELL_STARTS_KERNEL), undefined);
  assert.equal(detectBootFailure(`${SHELL_STARTS_KERNEL}[    0.000000] Linux version 6.12.0\r\n`), undefined);
  assert.ok(
    detectBootFailure(`${SHELL_STARTS_KERNEL}Command Error Status: Not Found\r\nFS0:\\> `),
    'the kernel did not start',
  );
});

test('a boot that goes well, or has not got far yet, is no failure', () => {
  assert.equal(detectBootFailure(GOOD_BOOT), undefined);
  assert.equal(detectBootFailure(OVMF_SHELL.slice(0, OVMF_SHELL.indexOf('UEFI Interactive'))), undefined);
  assert.equal(detectBootFailure(''), undefined);
});
