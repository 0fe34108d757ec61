/**
 * The install stage: attaches and mounts OEM and ROOT of the work image, makes room, installs every
 * sysext, then unmounts and checks both filesystems. Everything it acquires is released on the way out.
 */
import type { Context } from '../context.ts';
import { allFinished } from '../core/all-finished.ts';
import { CleanupStack } from '../core/cleanup.ts';
import { spaceError } from '../core/errors.ts';
import { humanBytes } from '../core/units.ts';
import { attachPartition, checkFilesystem, freeBytes, mountDevice } from '../image/disk.ts';
import { findPartition, readGpt, FLATCAR_PARTITIONS } from '../image/gpt.ts';
import { attachAndResizeRoot, growRootPartition } from '../image/grow.ts';
import { bytesNeeded, installSysext } from '../image/install.ts';
import type { PreparedSysext } from './sources.ts';
import { pausePoint, type Report } from './stages.ts';

const MIB = 1024 * 1024;

/** Installs the sysexts into `image`; returns by how many bytes ROOT grew (0 when they fitted). */
export async function installIntoImage(ctx: Context, image: string, sysexts: readonly PreparedSysext[], report: Report): Promise<{ grownBy: number }> {
  await using stack = new CleanupStack(ctx.log);
  const table = await readGpt(image);
  // One after the other: each attach writes the image file back first (copyImage left little to write),
  // and two at once would only wait for each other.
  const oemDevice = await attachPartition(ctx, stack, image, findPartition(table, 'oem', image));
  let rootDevice = await attachPartition(ctx, stack, image, findPartition(table, 'root', image));
  const oem = await mountDevice(ctx, stack, oemDevice.device, FLATCAR_PARTITIONS.oem.fstype, 'OEM');
  let root = await mountDevice(ctx, stack, rootDevice.device, FLATCAR_PARTITIONS.root.fstype, 'ROOT');
  await pausePoint(ctx, 'mounted');
  const needed = bytesNeeded(sysexts);
  const oemFree = await freeBytes(oem.path);
  if (needed.oem > oemFree) {
    throw spaceError(`the sysexts for OEM need ${humanBytes(needed.oem)} but OEM has ${humanBytes(oemFree)} free`, 'install them to ROOT (--install_to root:/opt/extensions) or bake fewer');
  }
  const rootFree = await freeBytes(root.path);
  let grownBy = 0;
  if (needed.root > rootFree) {
    grownBy = needed.root - rootFree + 64 * MIB;
    report(`growing ROOT by ${humanBytes(grownBy)}`);
    await root.unmount();
    await rootDevice.detach();
    rootDevice = await attachAndResizeRoot(ctx, stack, image, await growRootPartition(image, grownBy));
    root = await mountDevice(ctx, stack, rootDevice.device, FLATCAR_PARTITIONS.root.fstype, 'ROOT');
  }
  for (const sysext of sysexts) {
    report(`${sysext.spec.name} → ${sysext.placement.osPath}`);
    await installSysext(ctx, { root: root.path, oem: oem.path }, sysext);
  }
  await allFinished([root.unmount(), oem.unmount()]);
  await allFinished([
    checkFilesystem(ctx, rootDevice.device, FLATCAR_PARTITIONS.root.fstype, 'ROOT'),
    checkFilesystem(ctx, oemDevice.device, FLATCAR_PARTITIONS.oem.fstype, 'OEM'),
  ]);
  return { grownBy };
}
