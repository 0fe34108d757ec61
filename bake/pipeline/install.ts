/**
 * The install stage: makes room on ROOT, installs every sysext, then checks the filesystems it wrote.
 * Nothing is mounted and nothing needs root: ROOT's ext4 is edited offline with e2fsprogs at its offset
 * in the image (image/ext4-offline.ts); OEM's btrfs, only when a sysext goes there, is read out, edited
 * and rebuilt (image/btrfs-offline.ts). Everything acquired is released on the way out.
 */
import type { Context } from '../context.ts';
import { CleanupStack } from '../core/cleanup.ts';
import { spaceError } from '../core/errors.ts';
import { humanBytes } from '../core/units.ts';
import type { PolicyFile } from '../flatcar/usr-systemd.ts';
import { openBtrfsOffline } from '../image/btrfs-offline.ts';
import { checkExt4, ext4Store, growExt4 } from '../image/ext4-offline.ts';
import { Ext4Session } from '../image/ext4-session.ts';
import { findPartition, type GptTable, readGpt } from '../image/gpt.ts';
import { growRootPartition } from '../image/grow.ts';
import { InRootWriter } from '../image/in-root.ts';
import { bytesNeeded, type InstallSource, installSysext, partitionsTouched, pathsWritten } from '../image/install.ts';
import { PARTITION_RULES, type PartitionName } from '../image/placement.ts';
import { pausePoint, type Report } from './stages.ts';
import { type TrustInstalled, type TrustPlan, trustFiles } from './trust.ts';

const MIB = 1024 * 1024;

/** What the stage needs of a prepared sysext (pipeline/sources.ts PreparedSysext). */
export interface InstallItem extends InstallSource {
  spec: { name: string };
  bytes: number;
}

/**
 * Installs the sysexts (and what --trust-cert asks for) into `image`; returns by how many bytes ROOT grew
 * (0 when they fitted) and what the trust flags wrote.
 */
export async function installIntoImage(
  ctx: Context,
  image: string,
  sysexts: readonly InstallItem[],
  report: Report,
  trust?: TrustPlan,
): Promise<{ grownBy: number; trust?: TrustInstalled }> {
  await using stack = new CleanupStack(ctx.log);
  // Whether the release's systemd can honour the trust flags is known before anything is written.
  const trusted = trust ? await trustFiles(ctx, image, trust) : undefined;
  const table = await readGpt(image);
  const needed = bytesNeeded(sysexts);
  const oem = partitionsTouched(sysexts.map((sysext) => sysext.placement)).has('oem')
    ? await openOem(ctx, stack, image, table, needed.oem)
    : undefined;
  // The id predates the offline route: the point where the partitions are open for writing.
  await pausePoint(ctx, 'mounted');
  const root = new Ext4Session(
    ctx,
    { image, partition: findPartition(table, 'root', image), label: 'ROOT' },
    { write: true },
  );
  stack.defer('end debugfs on ROOT', async () => await root[Symbol.asyncDispose]());
  const grownBy = await makeRoomOnRoot(ctx, root, needed.root, report);
  await using rootWriter = new InRootWriter(ext4Store(ctx, root), PARTITION_RULES.root);
  await using oemWriter = oem?.writer;
  const writers: Record<PartitionName, InRootWriter | undefined> = { root: rootWriter, oem: oemWriter };
  try {
    await writeAll(writers, sysexts, trusted?.files ?? [], report);
  } catch (error) {
    // Also when OEM's writer failed: ROOT's queued writes are dropped with the image, and this is the error.
    rootWriter.abandon();
    throw error;
  }
  await rootWriter.flush();
  await oemWriter?.flush();
  await oem?.finish();
  await checkExt4(ctx, root.fs);
  return trusted
    ? { grownBy, trust: { systemd: trusted.systemd, files: trusted.files.map(({ path }) => path) } }
    : { grownBy };
}

/** Every sysext and trust file, through the partitions' writers; ROOT's are queued until its flush. */
async function writeAll(
  writers: Record<PartitionName, InRootWriter | undefined>,
  sysexts: readonly InstallItem[],
  files: readonly PolicyFile[],
  report: Report,
): Promise<void> {
  const writerFor = (partition: PartitionName) => writers[partition] ?? unexpected(partition);
  // ROOT's writer reads in batches and queues its writes: all reads first, all writes at the flush.
  const paths = pathsWritten(sysexts.map((sysext) => sysext.placement));
  for (const partition of new Set(paths.map((entry) => entry.partition)))
    await writerFor(partition).preload(paths.filter((entry) => entry.partition === partition).map(({ path }) => path));
  for (const sysext of sysexts) {
    report(`${sysext.spec.name} → ${sysext.placement.osPath}`);
    await installSysext(writerFor, sysext);
  }
  for (const file of files) {
    report(`ROOT:${file.path}`);
    await writerFor('root').writeText(file.path, file.text);
  }
}

/** Grows ROOT (GPT, then the ext4 offline) when the sysexts do not fit in its free space; by how much. */
async function makeRoomOnRoot(ctx: Context, root: Ext4Session, needed: number, report: Report): Promise<number> {
  const { freeBytes } = await root.geometry();
  if (needed <= freeBytes) return 0;
  const grownBy = needed - freeBytes + 64 * MIB;
  report(`growing ROOT by ${humanBytes(grownBy)}`);
  await root.end();
  const grown = { ...root.fs, partition: await growRootPartition(root.fs.image, grownBy) };
  await growExt4(ctx, grown);
  root.grown(grown);
  return grownBy;
}

/** OEM read out for an offline rebuild (image/btrfs-offline.ts), refused when the sysexts do not fit. */
async function openOem(
  ctx: Context,
  stack: CleanupStack,
  image: string,
  table: GptTable,
  needed: number,
): Promise<{ writer: InRootWriter; finish: () => Promise<void> }> {
  const oem = await openBtrfsOffline(ctx, stack, {
    image,
    partition: findPartition(table, 'oem', image),
    label: 'OEM',
  });
  if (needed > oem.freeBytes) {
    throw spaceError(
      `the sysexts for OEM need ${humanBytes(needed)} but OEM has ${humanBytes(oem.freeBytes)} free`,
      'install them to ROOT (--install_to root:/opt/extensions) or bake fewer',
    );
  }
  return { writer: new InRootWriter(oem.store, PARTITION_RULES.oem), finish: oem.finish };
}

function unexpected(partition: PartitionName): never {
  throw new Error(`internal: nothing opened ${partition} for writing`);
}
