/**
 * A signed release directory for vendor tests, served on 127.0.0.1: version.txt, the sysext base
 * squashfs, OEM sysexts (with Era C's SYSEXT_* fields), qemu firmware, and stand-ins for the
 * flatcar/scripts tarball and its templates. Plus a context pointing bake at it and a fresh small disk.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { type Context, createContext } from '../../bake/context.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { produceVendorImage, type VendorJob } from '../../bake/vendor/index.ts';
import type { VendorRelease } from '../../bake/vendor/plan.ts';
import { type ScriptsTrust, sha256Text } from '../../bake/vendor/scripts-trust.ts';
import { vendorPlans } from '../../bake/vendor/several.ts';
import { makeFlatcarDisk } from './fixtures/disk-image.ts';
import { createSigningKey, type SigningKey, signDetached } from './fixtures/gpg.ts';
import { fixtureRunner } from './fixtures/run.ts';
import { buildScriptsStandinTarball, STANDIN_IMAGE_TEMPLATE } from './fixtures/sdk-standin.ts';
import type { CleanupHost } from './fixtures.ts';
import { type Mirror, startMirror } from './mirror.ts';

export interface VendorReleaseSpec {
  version: string;
  channel: 'alpha' | 'beta' | 'stable' | 'lts';
  sdkVersion: string;
  oems: string[];
  firmware?: boolean;
  scriptsFailWith?: string;
  scriptsSleepSeconds?: number;
}

export interface VendorFixture {
  root: string;
  mirror: Mirror;
  key: SigningKey;
  scratch: string;
  releases: Map<string, VendorRelease>;
  /** A fresh context (own memory log) on a private cache. */
  context(signal?: AbortSignal): Context & { lines: string[] };
  /**
   * What vouches for the stand-ins a route runs: the SDK route's tarball by the git tree it holds, the
   * native route's qemu_template.sh by its SHA-256; plus --insecure-scripts because the mirror speaks plain HTTP.
   */
  scriptsTrust(route: 'sdk' | 'native', version: string): ScriptsTrust;
  /** A fresh generic image in `dir`, with one baked sysext in ROOT. */
  disk(dir: string, version: string): Promise<string>;
}

/** Stand-ins for build_library/qemu_template.sh and template_vmware.ovf: the variables image_to_vm edits. */
export const QEMU_TEMPLATE_STANDIN =
  '#!/bin/sh\n# STAND-IN qemu_template.sh\nSCRIPT_DIR="$(dirname "$0")"\nVM_BOARD=\nVM_NAME=\nVM_IMAGE=\nVM_MEMORY=\nVM_PFLASH_RO=\nVM_PFLASH_RW=\necho "$VM_NAME $VM_IMAGE"\n';
export const OVF_TEMPLATE_STANDIN =
  '<?xml version="1.0"?>\n<!-- STAND-IN template_vmware.ovf -->\n<Envelope><File ovf:href="@@VMDK_FILE_NAME@@" ovf:size="@@VMDK_FILE_SIZE@@"/><Disk ovf:capacity="@@VMDK_CAPACITY@@"/><Name>@@NAME@@</Name><Cpus>@@NUM_CPUS@@</Cpus><Memory>@@MEM_SIZE@@</Memory></Envelope>\n';

async function squashfs(tree: string, out: string): Promise<void> {
  await fixtureRunner().run('mksquashfs', [tree, out, '-all-root', '-noappend', '-quiet']);
}

async function oemSysext(work: string, out: string, id: string, version: string): Promise<void> {
  const tree = join(work, `oem-${id}`);
  await mkdir(join(tree, 'usr/lib/extension-release.d'), { recursive: true });
  await mkdir(join(tree, 'usr/share/oem'), { recursive: true });
  await writeFile(join(tree, 'usr/share/oem/marker'), `oem-${id} fixture\n`);
  await writeFile(
    join(tree, 'usr/lib/extension-release.d', `extension-release.oem-${id}`),
    `ID=flatcar\nVERSION_ID=${version}\nARCHITECTURE=x86-64\nSYSEXT_ID=oem-${id}\nSYSEXT_NAME="Fixture ${id}"\nSYSEXT_VERSION_ID=1.0-r1\nSYSEXT_BUG_REPORT_URL="https://issues.flatcar.org"\n`,
  );
  await squashfs(tree, out);
}

async function signed(key: SigningKey, path: string, write: (path: string) => Promise<void>): Promise<void> {
  await write(path);
  await signDetached(key, path);
}

/** Builds the release directory and the scripts stand-ins; returns the git tree the stand-in tarball holds. */
async function buildRelease(
  fx: { root: string; key: SigningKey; scratch: string },
  spec: VendorReleaseSpec,
): Promise<string> {
  const dir = join(fx.root, spec.channel, 'amd64-usr', spec.version);
  const work = await mkdtemp(join(fx.scratch, 'rel-'));
  await mkdir(dir, { recursive: true });
  const [major, branch, patch] = spec.version.split('.');
  await signed(fx.key, join(dir, 'version.txt'), (p) =>
    writeFile(
      p,
      `FLATCAR_BUILD=${major}\nFLATCAR_BRANCH=${branch}\nFLATCAR_PATCH=${patch}\nFLATCAR_VERSION=${spec.version}\nFLATCAR_VERSION_ID=${spec.version}\nFLATCAR_BUILD_ID=""\nFLATCAR_SDK_VERSION=${spec.sdkVersion}\n`,
    ),
  );
  await mkdir(join(work, 'base/usr/lib'), { recursive: true });
  await writeFile(join(work, 'base/usr/lib/os-release'), `ID=flatcar\nVERSION=${spec.version}\n`);
  await signed(fx.key, join(dir, 'flatcar_production_image_sysext.squashfs'), (p) => squashfs(join(work, 'base'), p));
  for (const id of spec.oems)
    await signed(fx.key, join(dir, `oem-${id}.raw`), (p) => oemSysext(work, p, id, spec.version));
  if (spec.firmware) {
    for (const name of ['flatcar_production_qemu_uefi_efi_code.qcow2', 'flatcar_production_qemu_uefi_efi_vars.qcow2']) {
      await signed(fx.key, join(dir, name), (p) =>
        fixtureRunner()
          .run('qemu-img', ['create', '-q', '-f', 'qcow2', p, '4M'])
          .then(() => undefined),
      );
    }
  }
  const tag = `${spec.channel}-${spec.version}`;
  const tarball = join(fx.root, 'flatcar/scripts/archive', `${tag}.tar.gz`);
  const tree = await buildScriptsStandinTarball(tarball, {
    tag,
    sdkVersion: spec.sdkVersion,
    failWith: spec.scriptsFailWith,
    sleepSeconds: spec.scriptsSleepSeconds,
  });
  const raw = join(fx.root, 'flatcar/scripts/raw', tag, 'build_library');
  await mkdir(raw, { recursive: true });
  await writeFile(join(raw, 'qemu_template.sh'), QEMU_TEMPLATE_STANDIN);
  await writeFile(join(raw, 'template_vmware.ovf'), OVF_TEMPLATE_STANDIN);
  return tree;
}

/**
 * One fixture for a whole test file, built on first use and released after its last test. Call at the
 * file's top level (it registers the file's `after` hook).
 */
export function vendorFixtureForFile(specs: VendorReleaseSpec[]): () => Promise<VendorFixture> {
  let fixture: Promise<VendorFixture> | undefined;
  const releases: Array<() => unknown> = [];
  after(async () => {
    for (const release of releases) await release();
  });
  return () => {
    fixture ??= vendorFixture({ after: (fn) => releases.push(fn) }, specs);
    return fixture;
  };
}

export async function vendorFixture(t: CleanupHost, specs: VendorReleaseSpec[]): Promise<VendorFixture> {
  const scratch = await mkdtemp(join(tmpdir(), 'bake-vendor-'));
  let mirror: Mirror | undefined;
  let key: SigningKey | undefined;
  t.after(async () => {
    await mirror?.close();
    await key?.close();
    await rm(scratch, { recursive: true, force: true });
  });
  key = await createSigningKey(join(scratch, 'key'));
  const root = join(scratch, 'www');
  await mkdir(root, { recursive: true });
  const scriptsTrees = new Map<string, string>();
  for (const spec of specs) scriptsTrees.set(spec.version, await buildRelease({ root, key, scratch }, spec));
  mirror = await startMirror({ root });
  const url = mirror.url;
  const releases = new Map(
    specs.map((spec) => [
      spec.version,
      {
        version: spec.version,
        channel: spec.channel,
        arch: 'x86-64' as const,
        board: 'amd64-usr',
        baseUrl: `${url}/${spec.channel}/amd64-usr/${spec.version}`,
      },
    ]),
  );
  const signingKey = key.publicKeyPath;
  let contexts = 0;
  return {
    root,
    mirror,
    key,
    scratch,
    releases,
    context(signal) {
      const log = memoryLogger();
      const ctx = createContext({
        log,
        ...(signal ? { signal } : {}),
        cacheDir: join(scratch, `cache-${contexts++}`),
        endpoints: {
          releaseUrl: `${url}/{channel}/{board}/{version}`,
          signingKey,
          scriptsTarballUrl: `${url}/flatcar/scripts/archive/{tag}.tar.gz`,
          scriptsFileUrl: `${url}/flatcar/scripts/raw/{tag}/{path}`,
          sdkImage: STANDIN_IMAGE_TEMPLATE,
        },
      });
      return Object.assign(ctx, { lines: log.lines });
    },
    scriptsTrust(route, version) {
      return {
        ...(route === 'sdk' ? { tree: scriptsTrees.get(version)! } : { sha256: sha256Text(QEMU_TEMPLATE_STANDIN) }),
        insecure: true,
      };
    },
    async disk(dir, version) {
      const tree = join(dir, 'rootfs');
      await mkdir(join(tree, 'opt/extensions/hello'), { recursive: true });
      await mkdir(join(tree, 'etc/extensions'), { recursive: true });
      await writeFile(join(tree, 'opt/extensions/hello/hello-1.0-x86-64.raw'), 'baked sysext stand-in\n');
      await symlink('/opt/extensions/hello/hello-1.0-x86-64.raw', join(tree, 'etc/extensions/hello.raw'));
      const path = join(dir, 'flatcar_production_image.bin');
      await makeFlatcarDisk(path, { version, rootTree: tree });
      await rm(tree, { recursive: true });
      return path;
    },
  };
}

/** One vendor image made as a bake makes it: planned by vendorPlans (what --dry-run prints), then made by that plan. */
export async function produceAsPlanned(ctx: Context, job: VendorJob): Promise<string[]> {
  const [plan] = vendorPlans({ ...job, vendors: [job.vendor] }, ctx.endpoints);
  return produceVendorImage(ctx, job, plan!);
}
