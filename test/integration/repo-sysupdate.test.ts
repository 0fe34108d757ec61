/**
 * The repository judged by the real client: systemd-sysupdate 257 (and systemd-pull, gpg) from a cached
 * Debian 13 root, talking to `bake repo serve` on 127.0.0.1. The client installs the conf bake generated,
 * with Verify=yes against the test key, installs v1, updates to v2 once `bake repo build` publishes it,
 * then to v3 and v4 (dropping the oldest instance past InstancesMax=3), and refuses a tampered SHA256SUMS.
 */

import assert from 'node:assert/strict';
import { appendFile, mkdir, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Context, createContext } from '../../bake/context.ts';
import { sha256File } from '../../bake/core/checksums.ts';
import { type TempDir, tempDir } from '../../bake/core/cleanup.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { buildRepository, type RepoBuildSummary } from '../../bake/repo/build.ts';
import { type RepoServer, startRepoServer } from '../../bake/repo/serve.ts';
import { parseBuildList } from '../../bake/repo/versions-file.ts';
import { createSigningKey, type SigningKey } from '../support/fixtures/gpg.ts';
import { fixtureRunner } from '../support/fixtures/run.ts';
import { type SysupdateClient, sysupdateClient } from '../support/fixtures/trixie-sysupdate.ts';
import { localBuilder, stubUpstream } from '../support/repo-fixture.ts';

const CLIENT_TIMEOUT_MS = 60_000;
let work: TempDir;
let ctx: Context;
let server: RepoServer;
let key: SigningKey;
let client: SysupdateClient;
const latest: Record<string, string[]> = { hello: ['1'] };
const builder = localBuilder();
let repoDir: string;

before(async () => {
  work = await tempDir('bake-repo-sysupdate');
  repoDir = join(work.path, 'repo');
  ctx = createContext({ log: memoryLogger() });
  server = await startRepoServer({ repoDir });
  key = await createSigningKey(join(work.path, 'key'));
  client = await sysupdateClient();
  // The client trusts exactly the test key, in the keyring systemd-pull reads for Verify=yes.
  await mkdir(join(client.upper, 'etc/systemd'), { recursive: true });
  await fixtureRunner().run('gpg', [
    '--batch',
    '--homedir',
    key.gnupgHome,
    '--output',
    join(client.upper, 'etc/systemd/import-pubring.gpg'),
    '--export',
    key.fingerprint,
  ]);
  await mkdir(join(client.upper, 'etc/extensions'), { recursive: true });
});

after(async () => {
  await client?.[Symbol.asyncDispose]();
  await server?.close();
  await key?.close();
  await work?.[Symbol.asyncDispose]();
});

async function build(): Promise<RepoBuildSummary> {
  return buildRepository(ctx, {
    repoDir,
    entries: parseBuildList('hello latest\nbroken latest # its upstream is down\n'),
    arches: ['x86-64'],
    upstream: stubUpstream(latest),
    builder: builder.build,
    bakeryUrl: server.url,
    verify: true,
    signingKey: { key: key.fingerprint, homedir: key.gnupgHome },
  });
}

async function update(): Promise<{ exitCode: number; output: string }> {
  const result = await client.sysupdate(['update'], { timeoutMs: CLIENT_TIMEOUT_MS });
  return { exitCode: result.exitCode, output: `${result.stdout}\n${result.stderr}` };
}

const installedDir = () => join(client.upper, 'opt/extensions/hello');
const installed = async () => (await readdir(installedDir()).catch(() => [])).filter((f) => f.endsWith('.raw')).sort();
const current = () => readlink(join(client.upper, 'etc/extensions/hello.raw'));

test('the client installs v1 through the conf bake generated, verifying the signed manifest', async () => {
  const summary = await build();
  assert.deepEqual(summary.built, ['hello-1']);
  assert.deepEqual(
    summary.failed.map((f) => f.name),
    ['broken'],
    'the broken upstream is reported, not fatal',
  );
  // The client's config is fetched the way a user would: the conf URL on the repository.
  const conf = await ctx.http.getText(`${server.url}/hello.conf`);
  assert.match(conf, /^Verify=yes$/m);
  assert.match(conf, new RegExp(`^Path=${server.url}/hello/$`, 'm'));
  await mkdir(join(client.upper, 'etc/sysupdate.d'), { recursive: true });
  await fixtureRunner().run('cp', [
    join(repoDir, 'hello', 'hello.conf'),
    join(client.upper, 'etc/sysupdate.d/hello.conf'),
  ]);

  const result = await update();
  assert.equal(result.exitCode, 0, result.output);
  assert.match(result.output, /Signature verification succeeded/);
  assert.deepEqual(await installed(), ['hello-1-x86-64.raw']);
  assert.equal(await current(), '../../opt/extensions/hello/hello-1-x86-64.raw');
  assert.equal(
    await sha256File(join(installedDir(), 'hello-1-x86-64.raw')),
    await sha256File(join(repoDir, 'hello-1', 'hello-1-x86-64.raw')),
  );
});

test('after bake repo build publishes v2 the client downloads it and moves the CurrentSymlink', async () => {
  latest.hello = ['2'];
  const summary = await build();
  assert.deepEqual(summary.built, ['hello-2']);
  const result = await update();
  assert.equal(result.exitCode, 0, result.output);
  assert.match(result.output, /hello-2-x86-64\.raw/);
  assert.deepEqual(await installed(), ['hello-1-x86-64.raw', 'hello-2-x86-64.raw']);
  assert.equal(await current(), '../../opt/extensions/hello/hello-2-x86-64.raw');
});

test('past InstancesMax=3 the client drops the oldest instance', async () => {
  latest.hello = ['3'];
  assert.deepEqual((await build()).built, ['hello-3']);
  let result = await update();
  assert.equal(result.exitCode, 0, result.output);
  assert.deepEqual(await installed(), ['hello-1-x86-64.raw', 'hello-2-x86-64.raw', 'hello-3-x86-64.raw']);

  latest.hello = ['4', '3']; // k8s-style: latest stands for several versions; 3 is published and skipped
  const summary = await build();
  assert.deepEqual(summary.built, ['hello-4']);
  assert.deepEqual(
    summary.plan.skip.map((s) => `${s.name}-${s.version}`),
    ['hello-3'],
  );
  assert.equal(builder.requests.filter((r) => r.version === '3').length, 1, 'published v3 was never rebuilt');
  result = await update();
  assert.equal(result.exitCode, 0, result.output);
  assert.deepEqual(await installed(), ['hello-2-x86-64.raw', 'hello-3-x86-64.raw', 'hello-4-x86-64.raw']);
  assert.equal(await current(), '../../opt/extensions/hello/hello-4-x86-64.raw');
  assert.ok(
    (await readdir(join(repoDir, 'hello-1'))).includes('hello-1-x86-64.raw'),
    'the repository keeps every published version',
  );
});

test('a tampered SHA256SUMS is refused and nothing is installed from it', async () => {
  const manifest = join(repoDir, 'hello', 'SHA256SUMS');
  const signed = await readFile(manifest, 'utf8');
  await appendFile(manifest, `${'0'.repeat(64)}  hello-5-x86-64.raw\n`);
  const result = await update();
  assert.notEqual(result.exitCode, 0, result.output);
  assert.match(result.output, /BAD signature|Signature verification failed/);
  assert.deepEqual(await installed(), ['hello-2-x86-64.raw', 'hello-3-x86-64.raw', 'hello-4-x86-64.raw']);
  assert.equal(await current(), '../../opt/extensions/hello/hello-4-x86-64.raw');
  assert.notEqual(signed, await readFile(manifest, 'utf8'));
});

test('metadata rebuilt without the key loses its stale signature, and Verify=yes refuses it', async () => {
  latest.hello = ['5'];
  const summary = await buildRepository(ctx, {
    repoDir,
    entries: parseBuildList('hello latest\n'),
    arches: ['x86-64'],
    upstream: stubUpstream(latest),
    builder: builder.build,
    bakeryUrl: server.url,
    verify: true,
  });
  assert.deepEqual(summary.built, ['hello-5']);
  const result = await update();
  assert.notEqual(result.exitCode, 0, result.output);
  assert.match(result.output, /SHA256SUMS\.gpg/);
  assert.equal((await installed()).includes('hello-5-x86-64.raw'), false);
  assert.equal(await current(), '../../opt/extensions/hello/hello-4-x86-64.raw');
});
