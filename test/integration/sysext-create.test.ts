/**
 * createSysext end to end against the stand-in upstream: recipe options, 'latest', reproducibility,
 * checksum failures (network and cache), bad input, Ctrl-C, and one real `systemd-sysext merge` in a
 * private mount namespace that runs binaries from the merged images.
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import type { Arch } from '../../bake/core/arch.ts';
import { sha256File } from '../../bake/core/checksums.ts';
import { oneLine } from '../../bake/core/errors.ts';
import { createSysext } from '../../bake/sysext/create.ts';
import { cachePathFor } from '../../bake/sysext/runner.ts';
import { latestVersions, listVersions } from '../../bake/sysext/versions.ts';
import { flatcarMergeRoot, runMerged } from '../support/sysext-merge.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

let upstream: Upstream;
let work: string;

before(async () => {
  upstream = await startUpstream(['x86-64', 'arm64']);
  work = await mkdtemp(join(tmpdir(), 'sysext-create-'));
});

after(async () => {
  await upstream?.close();
  await rm(work, { recursive: true, force: true });
});

const outDir = async (label: string) => {
  const dir = join(work, label);
  await mkdir(dir, { recursive: true });
  return dir;
};
const listImage = async (image: string) => (await execa('unsquashfs', ['-lc', '-d', '', image])).stdout.split('\n');
/** Matches the one line the CLI prints: message and hint. */
const line = (pattern: RegExp) => (error: unknown) => pattern.test(oneLine(error));
const kind = (expected: string) => (error: Error & { kind?: string }) => error.kind === expected;

test('docker --without containerd drops containerd and both its configs; --without docker keeps containerd only', async () => {
  const ctx = upstream.context();
  const noContainerd = await createSysext(ctx, {
    name: 'docker',
    version: '27.3.1',
    arch: 'x86-64',
    outputDir: await outDir('d1'),
    options: { without: 'containerd' },
  });
  const files = await listImage(noContainerd.image);
  assert.ok(files.includes('/usr/bin/dockerd'));
  for (const gone of [
    '/usr/bin/containerd',
    '/usr/share/containerd/config-cgroupfs.toml',
    '/usr/lib/systemd/system/containerd.service',
  ]) {
    assert.ok(!files.includes(gone), gone);
  }
  const noDocker = await listImage(
    (
      await createSysext(ctx, {
        name: 'docker',
        version: '27.3.1',
        arch: 'x86-64',
        outputDir: await outDir('d2'),
        options: { without: 'docker' },
      })
    ).image,
  );
  assert.ok(
    noDocker.includes('/usr/bin/containerd') &&
      !noDocker.includes('/usr/bin/dockerd') &&
      !noDocker.includes('/usr/lib/systemd/system/docker.socket'),
  );
  await assert.rejects(
    createSysext(ctx, {
      name: 'docker',
      version: '27.3.1',
      arch: 'x86-64',
      outputDir: work,
      options: { without: 'runc' },
    }),
    line(/--without runc is not valid for docker: use one of: docker, containerd/),
  );
});

test('nerdctl --with-cni ships the plugins and points nerdctl.toml at them', async () => {
  const result = await createSysext(upstream.context(), {
    name: 'nerdctl',
    version: 'v2.0.2',
    arch: 'arm64',
    outputDir: await outDir('n'),
    options: { 'with-cni': 'v1.6.1' },
  });
  assert.ok((await listImage(result.image)).includes('/usr/libexec/cni/bridge'));
  const { stdout } = await execa('unsquashfs', ['-cat', result.image, 'usr/share/nerdctl/nerdctl.toml']);
  assert.match(stdout, /cni_path = "\/usr\/libexec\/cni"/);
});

test("'latest' resolves through the version source (prereleases and non-release tags skipped)", async () => {
  const ctx = upstream.context();
  assert.deepEqual(await listVersions(ctx, 'wasmtime'), ['v27.0.0', 'v26.0.1']);
  assert.deepEqual(await latestVersions(ctx, 'k3s'), ['v1.31.4+k3s1', 'v1.30.8+k3s1', 'v1.29.12+k3s1']);
  assert.deepEqual(await latestVersions(ctx, 'kubernetes'), ['v1.31.4', 'v1.30.8']);
  assert.deepEqual(await listVersions(ctx, 'docker'), ['27.3.1', '26.1.4']);
  const result = await createSysext(ctx, {
    name: 'wasmtime',
    version: 'latest',
    arch: 'x86-64',
    outputDir: await outDir('latest'),
  });
  assert.equal(result.version, 'v27.0.0');
});

test('the same recipe and version build byte-identical images, from a cold and a warm cache', async () => {
  const request = { name: 'kubernetes', version: 'v1.31.4', arch: 'x86-64' as Arch, sysupdate: true };
  const first = await createSysext(upstream.context({ cacheDir: join(work, 'cache-a') }), {
    ...request,
    outputDir: await outDir('r1'),
  });
  const second = await createSysext(upstream.context({ cacheDir: join(work, 'cache-b') }), {
    ...request,
    outputDir: await outDir('r2'),
  });
  const third = await createSysext(upstream.context({ cacheDir: join(work, 'cache-b') }), {
    ...request,
    outputDir: await outDir('r3'),
  });
  assert.equal(await sha256File(second.image), await sha256File(first.image));
  assert.equal(await sha256File(third.image), await sha256File(first.image));
});

test('a corrupted download fails closed with a verify error and leaves nothing behind', async () => {
  const outputDir = join(work, 'corrupt-out');
  upstream.mirror.fault(/\/k3s-arm64$/, { corrupt: true, times: 10 });
  try {
    await assert.rejects(
      createSysext(upstream.context({ cacheDir: join(work, 'cache-corrupt') }), {
        name: 'k3s',
        version: 'v1.31.4+k3s1',
        arch: 'arm64',
        outputDir,
      }),
      (error: Error & { kind?: string }) => error.kind === 'verify' && /SHA-256 mismatch/.test(error.message),
    );
  } finally {
    upstream.mirror.clearFaults();
  }
  await assert.rejects(readdir(outputDir), /ENOENT/);
});

test('a cached file that no longer matches the upstream checksum is fetched again', async () => {
  const cacheDir = join(work, 'cache-stale');
  const ctx = upstream.context({ cacheDir });
  const url = `${upstream.endpoints.githubUrl}/docker/compose/releases/download/v2.30.3/docker-compose-linux-x86_64`;
  const cached = cachePathFor(cacheDir, url);
  await mkdir(join(cached, '..'), { recursive: true });
  await writeFile(cached, 'tampered');
  await createSysext(ctx, {
    name: 'docker-compose',
    version: '2.30.3',
    arch: 'x86-64',
    outputDir: await outDir('stale'),
  });
  assert.ok(ctx.log.lines.some((line) => /does not match .* checksum; downloading it again/.test(line)));
  assert.notEqual(await readFile(cached, 'utf8'), 'tampered');
  assert.ok(upstream.mirror.requests.some((r) => r.path.endsWith('docker-compose-linux-x86_64') && r.status === 200));
});

test('bad input: unknown recipe, missing version, arch, option, format; each one line and nothing left', async () => {
  const ctx = upstream.context();
  const outputDir = join(work, 'bad');
  const base = { version: 'v27.0.0', arch: 'x86-64' as Arch, outputDir };
  await assert.rejects(
    createSysext(ctx, { ...base, name: 'dokcer' }),
    (e: Error & { kind?: string; hint?: string }) =>
      e.kind === 'usage' && /unknown extension 'dokcer'/.test(e.message) && e.hint === "did you mean 'docker'?",
  );
  await assert.rejects(
    createSysext(ctx, { ...base, name: 'wasmtime', version: 'v99.0.0' }),
    (e: Error & { kind?: string; hint?: string }) =>
      e.kind === 'input' &&
      /wasmtime v99\.0\.0 is not published upstream for x86-64/.test(e.message) &&
      /bake sysext versions wasmtime/.test(e.hint!),
  );
  await assert.rejects(
    createSysext(ctx, { ...base, name: 'wasmtime', arch: 'riscv64' as Arch }),
    /wasmtime is not available for riscv64/,
  );
  await assert.rejects(
    createSysext(ctx, { ...base, name: 'wasmtime', options: { 'cni-version': 'v1' } }),
    line(/wasmtime has no option --cni-version: its options: none/),
  );
  await assert.rejects(createSysext(ctx, { ...base, name: 'wasmtime', format: 'iso' as never }), kind('usage'));
  await assert.rejects(readdir(outputDir), /ENOENT/);
});

test('Ctrl-C during a download stops the build and leaves no output', async () => {
  const controller = new AbortController();
  const outputDir = join(work, 'interrupted');
  upstream.mirror.fault(/tailscale_1\.78\.1_amd64\.tgz$/, { delayMs: 3000 });
  setTimeout(() => controller.abort(), 300);
  await assert.rejects(
    createSysext(upstream.context({ cacheDir: join(work, 'cache-int'), signal: controller.signal }), {
      name: 'tailscale',
      version: 'v1.78.1',
      arch: 'x86-64',
      outputDir,
    }),
    kind('interrupted'),
  );
  upstream.mirror.clearFaults();
  await assert.rejects(readdir(outputDir), /ENOENT/);
});

test('systemd-sysext merges the built images in a private namespace and their binaries run', async () => {
  const root = join(work, 'merge-root');
  const extensions = await flatcarMergeRoot(root);
  const ctx = upstream.context();
  for (const [name, version] of [
    ['kubernetes', 'v1.31.4'],
    ['wasmtime', 'v27.0.0'],
  ]) {
    await createSysext(ctx, { name: name!, version: version!, arch: 'x86-64', outputDir: extensions, os: 'flatcar' });
  }
  const stdout = await runMerged(root, ['"$1/usr/bin/kubectl"', '"$1/usr/bin/wasmtime"']);
  assert.match(stdout, /kubectl \(x86_64 stand-in\)/);
  assert.match(stdout, /wasmtime \(x86_64 stand-in\)/);
});
