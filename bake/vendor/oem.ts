/**
 * Writes the OEM partition (p6, btrfs) as image_to_vm.sh's install_oem_sysext and the OEM's grub.cfg do
 * (docs/flatcar-facts.md §2.3): the OEM sysext under the name the initrd looks for, the
 * flag that activates it, oem-release (from the sysext's SYSEXT_* fields, as Era C does) and grub.cfg.
 */

import type { OemPayload } from '../../vendors/formats.ts';
import { grubConfig, type OemSpec } from '../../vendors/oems.ts';
import type { Context } from '../context.ts';
import type { CleanupStack } from '../core/cleanup.ts';
import { attachPartition, mountDevice } from '../image/disk.ts';
import { FLATCAR_PARTITIONS, findPartition, readGpt } from '../image/gpt.ts';
import { PartitionWriter } from '../image/in-root.ts';
import { PARTITION_RULES } from '../image/placement.ts';

/** `systemd-dissect --json=short` → sysextRelease (extensionRelease before systemd 254). */
export async function extensionReleaseOf(ctx: Context, raw: string): Promise<string[]> {
  const { stdout } = await ctx.run.run('systemd-dissect', ['--json=short', raw], {
    readOnly: true,
    privileged: true,
    why: 'read the OEM sysext release',
  });
  const parsed = JSON.parse(stdout) as { sysextRelease?: string[]; extensionRelease?: string[] };
  return parsed.sysextRelease ?? parsed.extensionRelease ?? [];
}

/**
 * image_to_vm's `sed -n -E -e 's/^SYSEXT_ID=oem-/SYSEXT_ID=/' -e 's/^SYSEXT_//p'`; older sysexts carry no
 * SYSEXT_* fields, so fall back to what common-oem-files writes (without the ebuild version).
 */
export function oemRelease(spec: OemSpec, extensionRelease: readonly string[]): string {
  const fields = extensionRelease
    .map((line) => line.replace(/^SYSEXT_ID=oem-/, 'SYSEXT_ID='))
    .filter((line) => line.startsWith('SYSEXT_'))
    .map((line) => line.slice('SYSEXT_'.length));
  if (fields.length > 0) return `${fields.join('\n')}\n`;
  return `ID=${spec.id}\nNAME="${spec.name}"\nBUG_REPORT_URL="https://issues.flatcar.org"\n`;
}

export interface OemSysext {
  /** The verified `oem-<id>.raw` in the release cache. */
  path: string;
  extensionRelease: string[];
}

/** The verified OEM sysext with its extension-release, read before the disk is mounted (it does not need it). */
export async function readOemSysext(ctx: Context, path: string): Promise<OemSysext> {
  return { path, extensionRelease: await extensionReleaseOf(ctx, path) };
}

export interface OemFiles {
  grubCfg: string;
  oemRelease: string;
  sysextName?: string;
}

/**
 * Mounts OEM, writes the files, unmounts. Returns what it wrote, for logs and tests. The base image's
 * OEM is input from outside: every path is resolved inside it and written without following links.
 */
export async function writeOemPartition(
  ctx: Context,
  stack: CleanupStack,
  image: string,
  payload: OemPayload,
  version: string,
  sysext: OemSysext | undefined,
): Promise<OemFiles> {
  const { spec } = payload;
  const files: OemFiles = { grubCfg: grubConfig(spec), oemRelease: oemRelease(spec, sysext?.extensionRelease ?? []) };
  const partition = findPartition(await readGpt(image), 'oem', image);
  const attached = await attachPartition(ctx, stack, image, partition);
  const mounted = await mountDevice(ctx, stack, attached.device, FLATCAR_PARTITIONS.oem.fstype, 'OEM');
  const oem = new PartitionWriter(ctx, mounted.path, PARTITION_RULES.oem);
  if (sysext) {
    files.sysextName = `oem-${spec.id}-${version}.raw`;
    await oem.installFile(sysext.path, `/sysext/${files.sysextName}`, { preserveTimes: true });
    await oem.writeText(`/sysext/active-oem-${spec.id}`, '');
  }
  await oem.writeText('/oem-release', files.oemRelease);
  await oem.writeText('/grub.cfg', files.grubCfg);
  await mounted.unmount();
  await attached.detach();
  return files;
}
