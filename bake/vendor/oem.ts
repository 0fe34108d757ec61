/**
 * Writes the OEM partition (p6, btrfs) as image_to_vm.sh's install_oem_sysext and the OEM's grub.cfg do
 * (docs/flatcar-facts.md §2.3): the OEM sysext under the name the initrd looks for, the
 * flag that activates it, oem-release (from the sysext's SYSEXT_* fields, as Era C does) and grub.cfg.
 */

import { basename } from 'node:path';
import type { OemPayload } from '../../vendors/formats.ts';
import { grubConfig, type OemSpec } from '../../vendors/oems.ts';
import type { Context } from '../context.ts';
import type { Arch } from '../core/arch.ts';
import type { CleanupStack } from '../core/cleanup.ts';
import { openBtrfsOffline } from '../image/btrfs-offline.ts';
import { findPartition, readGpt } from '../image/gpt.ts';
import { InRootWriter } from '../image/in-root.ts';
import { PARTITION_RULES } from '../image/placement.ts';
import { inspectSysext } from '../image/sysext-file.ts';

/** What the OEM sysext must fit. */
export interface OemRelease {
  version: string;
  arch: Arch;
}

/**
 * The OEM sysext's extension-release as `KEY=value` lines, as `systemd-dissect --json=short` reports it
 * (sysextRelease), read without a loop device by the inspection every sysext gets before baking: it must
 * be an extension named after its file (`oem-azure.raw` → extension-release.oem-azure) that systemd
 * would merge on this release and architecture.
 */
export async function extensionReleaseOf(ctx: Context, raw: string, release: OemRelease): Promise<string[]> {
  const { release: fields } = await inspectSysext(ctx, raw, {
    name: basename(raw, '.raw'),
    arch: release.arch,
    osVersion: release.version,
  });
  return Object.entries(fields).map(([key, value]) => `${key}=${value}`);
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

/** The verified OEM sysext with its extension-release, read while the layout grows the disk (it does not need it). */
export async function readOemSysext(ctx: Context, path: string, release: OemRelease): Promise<OemSysext> {
  return { path, extensionRelease: await extensionReleaseOf(ctx, path, release) };
}

export interface OemFiles {
  grubCfg: string;
  oemRelease: string;
  sysextName?: string;
}

/**
 * Writes the files into OEM without mounting it: OEM is read out, written and rebuilt as the install
 * stage does (image/btrfs-offline.ts). Returns what it wrote, for logs and tests. The base image's OEM
 * is input from outside: every path is resolved inside it and written without following links.
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
  const offline = await openBtrfsOffline(ctx, stack, { image, partition, label: 'OEM' });
  await using oem = new InRootWriter(offline.store, PARTITION_RULES.oem);
  if (sysext) {
    files.sysextName = `oem-${spec.id}-${version}.raw`;
    await oem.installFile(sysext.path, `/sysext/${files.sysextName}`, { preserveTimes: true });
    await oem.writeText(`/sysext/active-oem-${spec.id}`, '');
  }
  await oem.writeText('/oem-release', files.oemRelease);
  await oem.writeText('/grub.cfg', files.grubCfg);
  await offline.finish();
  return files;
}
