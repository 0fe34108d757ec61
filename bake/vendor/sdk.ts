/**
 * The SDK vendor route, faithful to `bake_flatcar_image.sh --vendor`: flatcar/scripts at the release tag,
 * the verified release inputs beside the image (plus `oem-<id>.raw` from 4628 on, which the original
 * forgets), then image_to_vm.sh in the Flatcar SDK container, created and entered exactly as
 * run_sdk_container does (docs/flatcar-facts.md §3). The container is removed on success, failure and Ctrl-C.
 */
import { link, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { releaseQuirks } from '../../vendors/eras.ts';
import type { Compression, VendorFormat } from '../../vendors/formats.ts';
import type { LayoutName } from '../../vendors/layouts.ts';
import type { Context } from '../context.ts';
import { CleanupStack } from '../core/cleanup.ts';
import { type ContainerSpec, containerName, detectRuntime, type RuntimeChoice } from '../core/container.ts';
import { inputError, isBakeError, toolError } from '../core/errors.ts';
import { parseKeyValueFile } from '../core/key-value.ts';
import { fetchReleaseFile, IMAGE_BIN } from '../flatcar/release-files.ts';
import { moveOrCopySparse } from './convert.ts';
import { releaseFilesFor, sdkImageName, type VendorRelease } from './plan.ts';
import { publish } from './publish.ts';
import { fetchScriptsCheckout } from './scripts-source.ts';
import type { ScriptsTrust } from './scripts-trust.ts';

export interface SdkJob {
  format: VendorFormat;
  release: VendorRelease;
  image: string;
  workDir: string;
  outputDir: string;
  compression: Compression[];
  layout?: LayoutName;
  containerRuntime: RuntimeChoice;
  scripts: ScriptsTrust;
}

/** Paths inside the SDK container (run_sdk_container, sdk_lib/Dockerfile.sdk-import). */
export const SDK_ENTRY = '/mnt/host/source/src/scripts/sdk_lib/sdk_entry.sh';
const HOSTS_WORKAROUND = 'cp /etc/hosts /etc/hosts2; umount /etc/hosts ; mv /etc/hosts2 /etc/hosts';

export interface SdkContainerInput {
  scriptsDir: string;
  image: string;
  name: string;
  uid: number;
  gid: number;
  /** How run_sdk_container of the release mounts the container's /tmp. */
  tmp: SdkTmp;
}

export type SdkTmp = 'disk' | 'tmpfs' | 'tmpfs-exec';

export function sdkTmpOf(version: string): SdkTmp {
  const quirks = releaseQuirks(version);
  if (quirks.sdkTmpfsIsExec) return 'tmpfs-exec';
  return quirks.sdkTmpIsTmpfs ? 'tmpfs' : 'disk';
}

/** `docker create` as run_sdk_container issues it (without the host's GnuPG, ssh-agent and gcloud mounts). */
export function sdkContainerSpec(input: SdkContainerInput): ContainerSpec & { name: string } {
  return {
    image: input.image,
    args: ['-l'],
    interactive: true,
    tmpfs: input.tmp === 'tmpfs-exec' ? ['/tmp:exec'] : [],
    tmpfsMounts: input.tmp === 'tmpfs' ? ['/tmp'] : [],
    mounts: [
      { source: '/dev', target: '/dev' },
      { source: join(input.scriptsDir, 'sdk_container'), target: '/mnt/host/source/' },
      { source: join(input.scriptsDir, '__build__/images'), target: '/mnt/host/source/src/build' },
      { source: input.scriptsDir, target: '/mnt/host/source/src/scripts' },
    ],
    privileged: true,
    network: 'host',
    env: { SDK_USER_ID: String(input.uid), SDK_GROUP_ID: String(input.gid) },
    name: input.name,
    hostname: input.name.slice(0, 63).replaceAll('.', '_'),
    entrypoint: '/bin/bash',
  };
}

/** The command handed to sdk_entry.sh: the bakery's image_to_vm.sh call plus bake's compression choice. */
export function imageToVmArgs(job: Pick<SdkJob, 'format' | 'release' | 'compression' | 'layout'>): string[] {
  const storeOnlyCompressed = !job.compression.includes('none');
  return [
    './image_to_vm.sh',
    '--from=./',
    '--to=./',
    `--board=${job.release.board}`,
    '--getbinpkg',
    `--format=${job.format.name}`,
    `--image_compression_formats=${job.compression.join(',')}`,
    ...(storeOnlyCompressed ? ['--only_store_compressed'] : []),
    ...(job.layout ? [`--disk_layout=${job.layout}`] : []),
  ];
}

/** create_versionfile and setup_sdk_env's output, which the container reads from sdk_container/. */
async function writeSdkConfig(scriptsDir: string, release: VendorRelease, sdkVersion: string): Promise<void> {
  const sdkContainer = join(scriptsDir, 'sdk_container');
  await mkdir(join(sdkContainer, '.repo/manifests'), { recursive: true });
  await writeFile(
    join(sdkContainer, '.repo/manifests/version.txt'),
    `FLATCAR_VERSION=${release.version}\nFLATCAR_VERSION_ID=${release.version}\nFLATCAR_BUILD_ID=""\nFLATCAR_SDK_VERSION=${sdkVersion}\n`,
  );
  // COREOS_OFFICIAL=1 as the bakery sets it: no +buildid suffix, ephemeral signing keys.
  await writeFile(join(sdkContainer, '.sdkenv'), 'COREOS_OFFICIAL="1"\nexport COREOS_OFFICIAL\n');
  await mkdir(join(scriptsDir, '__build__/images'), { recursive: true });
  await mkdir(join(sdkContainer, '.cache/sdks'), { recursive: true });
}

/** Puts the verified release files beside the image in the checkout (hard links into the cache when possible). */
async function placeInputs(
  ctx: Context,
  job: SdkJob,
  scriptsDir: string,
): Promise<{ inputs: Set<string>; sdkVersion: string }> {
  const names = releaseFilesFor(job.format, job.release, 'sdk');
  const inputs = new Set<string>([IMAGE_BIN, ...names]);
  let sdkVersion = job.release.sdkVersion;
  for (const name of names) {
    const cached = await fetchReleaseFile(ctx, job.release, name);
    await link(cached, join(scriptsDir, name)).catch(() =>
      ctx.run.run('cp', ['--sparse=always', cached, join(scriptsDir, name)]),
    );
    if (name === 'version.txt') sdkVersion ??= parseKeyValueFile(await readFile(cached, 'utf8')).FLATCAR_SDK_VERSION;
  }
  if (!sdkVersion)
    throw inputError(`version.txt of ${job.release.version} names no FLATCAR_SDK_VERSION`, 'use --vendor-route native');
  await moveOrCopySparse(ctx, job.image, join(scriptsDir, IMAGE_BIN));
  return { inputs, sdkVersion };
}

export async function produceSdk(ctx: Context, job: SdkJob): Promise<string[]> {
  await using stack = new CleanupStack(ctx.log);
  const runtime = await detectRuntime(ctx, job.containerRuntime);
  const scriptsDir = join(job.workDir, `sdk-${job.format.name}`);
  stack.defer(`remove ${scriptsDir}`, () => rm(scriptsDir, { recursive: true, force: true }));
  await fetchScriptsCheckout(ctx, job.release, scriptsDir, job.scripts);
  const before = new Set(await readdir(scriptsDir));
  const { inputs, sdkVersion } = await placeInputs(ctx, job, scriptsDir);
  await writeSdkConfig(scriptsDir, job.release, sdkVersion);

  const image = sdkImageName(ctx.endpoints, sdkVersion);
  await runtime.ensureImage(image);
  const spec = sdkContainerSpec({
    scriptsDir,
    image,
    name: containerName(`bake-sdk-${job.format.name}`),
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    tmp: sdkTmpOf(job.release.version),
  });
  const container = await runtime.create(stack, spec);
  await runtime.start(container);
  await runtime.exec(container, ['sh', '-c', HOSTS_WORKAROUND]);
  ctx.log.info(`running image_to_vm.sh --format=${job.format.name} in the SDK container ${container.name}`);
  const result = await runtime
    .exec(container, [SDK_ENTRY, ...imageToVmArgs(job)], { interactive: true, why: 'run image_to_vm.sh in the SDK' })
    .catch((error: unknown) => {
      if (!isBakeError(error) || error.kind !== 'tool') throw error;
      throw toolError(
        `image_to_vm.sh failed in the SDK container: ${error.message.replace(/^\S+ failed /, '')}`,
        'run with --verbose for its output',
      );
    });
  for (const line of result.stdout.split('\n').filter(Boolean)) ctx.log.debug(`sdk: ${line}`);
  await container.remove();

  const produced = (await readdir(scriptsDir))
    .filter((name) => name.startsWith('flatcar_production_') && !before.has(name) && !inputs.has(name))
    .sort();
  if (produced.length === 0)
    throw inputError(
      `image_to_vm.sh wrote no flatcar_production_${job.format.name}* files`,
      'run with --verbose to see its output',
    );
  return await publish(scriptsDir, job.outputDir, produced);
}
