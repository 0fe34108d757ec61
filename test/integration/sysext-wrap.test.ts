/**
 * Wrapped distribution packages (btop from Alpine, tilde from Debian, `bake sysext wrap`) against
 * stand-in repositories in the real layouts: each image passes lint and systemd-dissect; merged by
 * systemd-sysext into an otherwise empty root, the wrapped x86-64 programs run in a chroot of it, i.e.
 * with nothing but the bundle's own loader and libraries; altered packages and indexes, and a Debian
 * Release not signed by the configured keyring, fail verification.
 */

import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { execa } from 'execa';
import type { Arch } from '../../bake/core/arch.ts';
import { BakeError } from '../../bake/core/errors.ts';
import { gzipMembers } from '../../bake/sysext/apk-package.ts';
import { createSysext } from '../../bake/sysext/create.ts';
import { cloneTree } from '../../bake/sysext/tree.ts';
import { ALPINE_MIRROR, DEBIAN_MIRROR, STANDIN_VERSIONS_B } from '../support/fixtures/upstream-recipes-b.ts';
import { flatcarMergeRoot, runMerged } from '../support/sysext-merge.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const WRAPPED = ['btop', 'tilde'];
const kind = (expected: string) => (error: unknown) => error instanceof BakeError && error.kind === expected;

let upstream: Upstream;
let work: string;

before(async () => {
  upstream = await startUpstream(['x86-64', 'arm64'], { only: WRAPPED });
  work = await mkdtemp(join(tmpdir(), 'sysext-wrap-'));
});

after(async () => {
  await upstream?.close();
  await rm(work, { recursive: true, force: true });
});

const image = (name: string, arch: Arch) => join(work, `${name}-${arch}`, `${name}.raw`);

for (const name of WRAPPED) {
  for (const arch of ['x86-64', 'arm64'] as Arch[]) {
    test(`${name} builds for ${arch} from the index's version, passes lint and systemd-dissect`, async () => {
      const outputDir = join(work, `${name}-${arch}`);
      const result = await createSysext(upstream.context(), {
        name,
        version: 'latest',
        arch,
        outputDir,
        sysupdate: true,
      });
      assert.equal(result.version, STANDIN_VERSIONS_B[name]);
      assert.deepEqual((await readdir(outputDir)).sort(), [`SHA256SUMS.${name}`, `${name}.conf`, `${name}.raw`]);
      const { stdout } = await execa('systemd-dissect', [result.image]);
      assert.match(stdout, /✓ extension for system/);
      assert.match(stdout, new RegExp(`ARCHITECTURE=${arch}`));
      const { stdout: listing } = await execa('unsquashfs', ['-lls', result.image]);
      assert.match(listing, new RegExp(`usr/bin/${name} -> /usr/lib/${name}/usr/bin/${name}`));
    });
  }
}

test('merged by systemd-sysext, the wrapped programs run on nothing but their bundles', async () => {
  const root = join(work, 'merge-root');
  const extensions = await flatcarMergeRoot(root);
  for (const name of WRAPPED) await copyFile(image(name, 'x86-64'), join(extensions, `${name}.raw`));
  const stdout = await runMerged(root, ['chroot "$1" /usr/bin/btop btop ran', 'chroot "$1" /usr/bin/tilde tilde ran']);
  assert.deepEqual(
    stdout.split('\n').filter((line) => line.endsWith(' ran')),
    ['btop ran', 'tilde ran'],
  );
});

test('a version the index does not hold is refused, not replaced by the one it has', async () => {
  const outputDir = join(work, 'old-tilde');
  await assert.rejects(
    createSysext(upstream.context(), { name: 'tilde', version: '1.1.1-1', arch: 'x86-64', outputDir }),
    kind('input'),
  );
  await assert.rejects(readdir(outputDir), /ENOENT/);
});

/** Serves an altered copy of a repository file for the duration of `run`. */
async function withAltered(path: string, alter: (bytes: Buffer) => Buffer, run: () => Promise<void>): Promise<void> {
  const full = join(upstream.dir, 'www', path);
  const original = await readFile(full);
  await writeFile(full, alter(original));
  try {
    await run();
  } finally {
    await writeFile(full, original);
  }
}

test('a .deb that does not match Packages fails verification', async () => {
  const deb = `${DEBIAN_MIRROR}/pool/main/l/libt3widget2/libt3widget2_1.2.2-1_amd64.deb`;
  const outputDir = join(work, 'tampered-deb');
  await withAltered(
    deb,
    (bytes) => Buffer.concat([bytes, Buffer.from('\n')]),
    async () => {
      const ctx = upstream.context({ cacheDir: join(work, 'cache-deb') });
      await assert.rejects(
        createSysext(ctx, { name: 'tilde', version: 'latest', arch: 'x86-64', outputDir }),
        kind('verify'),
      );
    },
  );
  await assert.rejects(readdir(outputDir), /ENOENT/);
});

test('a Packages.gz that the signed Release does not list, or a Release not signed by the keyring, is refused', async () => {
  const index = `${DEBIAN_MIRROR}/dists/bookworm/main/binary-amd64/Packages.gz`;
  const request = {
    name: 'tilde',
    version: STANDIN_VERSIONS_B.tilde!,
    arch: 'x86-64' as const,
    outputDir: join(work, 'unsigned'),
  };
  const extraStanza = (bytes: Buffer) =>
    gzipSync(Buffer.concat([gunzipSync(bytes), Buffer.from('\nPackage: extra\n')]));
  await withAltered(index, extraStanza, async () => {
    await assert.rejects(
      createSysext(upstream.context({ cacheDir: join(work, 'cache-index') }), request),
      kind('verify'),
    );
  });
  const ctx = upstream.context({ cacheDir: join(work, 'cache-keyring') });
  ctx.endpoints.debianKeyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
  await assert.rejects(createSysext(ctx, request), kind('verify'));
  await assert.rejects(readdir(request.outputDir), /ENOENT/);
});

test('an .apk whose files were swapped (control stream intact) fails its datahash check', async () => {
  const apk = `${ALPINE_MIRROR}/latest-stable/main/x86_64/libgcc-14.2.0-r4.apk`;
  const swapData = (bytes: Buffer) => {
    const [signature, control] = gzipMembers(bytes, 'libgcc.apk');
    return Buffer.concat([signature!, control!, gzipSync(Buffer.alloc(1024))]);
  };
  await withAltered(apk, swapData, async () => {
    const ctx = upstream.context({ cacheDir: join(work, 'cache-apk') });
    await assert.rejects(
      createSysext(ctx, { name: 'btop', version: 'latest', arch: 'x86-64', outputDir: join(work, 'tampered-apk') }),
      kind('verify'),
    );
  });
});

test('merging a tree into a symlink is refused instead of writing through it', async () => {
  const dir = await mkdtemp(join(work, 'clash-'));
  await mkdir(join(dir, 'outside'));
  await mkdir(join(dir, 'from/lib'), { recursive: true });
  await writeFile(join(dir, 'from/lib/planted'), 'x');
  await mkdir(join(dir, 'to'));
  await symlink(join(dir, 'outside'), join(dir, 'to/lib'));
  await assert.rejects(cloneTree(join(dir, 'from'), join(dir, 'to'), 'copy'), kind('input'));
  assert.deepEqual(await readdir(join(dir, 'outside')), []);
});

test('bake sysext wrap --deb bundles named packages under another name, through the CLI', async () => {
  const env: Record<string, string> = { BAKE_CACHE_DIR: join(work, 'cache-cli'), ...upstream.env };
  const outputDir = join(work, 'wrap-cli');
  const args = [
    '--import',
    'tsx',
    'bake/cli.ts',
    'sysext',
    'wrap',
    '--deb',
    'tilde',
    '--name',
    'editor',
    '--output-dir',
    outputDir,
    '--json',
  ];
  const run = await execa('node', args, { env, reject: false });
  assert.equal(run.exitCode, 0, run.stderr);
  assert.equal((JSON.parse(run.stdout) as { version: string }).version, STANDIN_VERSIONS_B.tilde);
  const { stdout } = await execa('unsquashfs', ['-lls', join(outputDir, 'editor.raw')]);
  assert.match(stdout, /usr\/lib\/extension-release\.d\/extension-release\.editor/);
  assert.match(stdout, /usr\/bin\/tilde -> \/usr\/lib\/editor\/usr\/bin\/tilde/);
  const neither = await execa('node', ['--import', 'tsx', 'bake/cli.ts', 'sysext', 'wrap', 'tilde'], {
    env,
    reject: false,
  });
  assert.equal(neither.exitCode, 2);
  const noMirror = await execa('node', [...args.slice(0, 6), '--output-dir', join(work, 'no-mirror')], {
    env: { ...env, BAKE_DEBIAN_URL: '' },
    reject: false,
  });
  assert.equal(noMirror.exitCode, 2, noMirror.stderr);
});
