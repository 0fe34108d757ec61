/**
 * `bake repo build|sign|serve|list` with real images (mksquashfs), real gpg and a real HTTP server:
 * the bakery layout on disk, failures that do not stop the others, published releases left alone,
 * signatures gpg accepts, the served URL layout with ranges, and the CLI's one-line errors.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { access, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Context, createContext } from '../../bake/context.ts';
import { parseSums, sha256File } from '../../bake/core/checksums.ts';
import { type TempDir, tempDir } from '../../bake/core/cleanup.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { buildRepository, type RepoBuildOptions } from '../../bake/repo/build.ts';
import { loadCatalog, resolveImage } from '../../bake/repo/catalog.ts';
import { type RepoServer, startRepoServer } from '../../bake/repo/serve.ts';
import { signRepository } from '../../bake/repo/sign.ts';
import { parseBuildList } from '../../bake/repo/versions-file.ts';
import { assertOneLineError, runBake, workspace } from '../support/bake-cli.ts';
import { createSigningKey, type SigningKey } from '../support/fixtures/gpg.ts';
import { fixtureRunner } from '../support/fixtures/run.ts';
import { assertJsonOutput } from '../support/json-schemas.ts';
import { localBuilder, stubUpstream } from '../support/repo-fixture.ts';

let work: TempDir;
let repoDir: string;
let ctx: Context;
let key: SigningKey;
let server: RepoServer;
const builder = localBuilder();
const latest: Record<string, string[]> = { hello: ['1'], world: ['0.9'] };

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

function options(overrides: Partial<RepoBuildOptions> = {}): RepoBuildOptions {
  return {
    repoDir,
    entries: parseBuildList('hello latest\nworld latest\nbroken latest\nfailing 2.0\n'),
    arches: ['x86-64', 'arm64'],
    upstream: stubUpstream(latest),
    builder: builder.build,
    bakeryUrl: 'https://repo.example.invalid/extensions',
    verify: false,
    ...overrides,
  };
}

before(async () => {
  work = await tempDir('bake-repo-build');
  repoDir = join(work.path, 'repo');
  ctx = createContext({ log: memoryLogger() });
  key = await createSigningKey(join(work.path, 'key'));
  builder.failing.add('failing');
  server = await startRepoServer({ repoDir });
});

after(async () => {
  await server?.close();
  await key?.close();
  await work?.[Symbol.asyncDispose]();
});

test('--dry-run plans every arch of every missing release and writes nothing', async () => {
  const summary = await buildRepository(createContext({ log: memoryLogger(), dryRun: true }), options());
  assert.deepEqual(
    summary.plan.build.map((b) => `${b.tag}:${b.arches.join('+')}`),
    ['hello-1:x86-64+arm64', 'world-0.9:x86-64+arm64', 'failing-2.0:x86-64+arm64'],
  );
  assert.deepEqual(
    summary.failed.map((f) => f.name),
    ['broken'],
  );
  assert.equal(builder.requests.length, 0);
  assert.equal(await exists(repoDir), false);
});

test('build writes the bakery layout; a failing upstream or build does not stop the others', async () => {
  const summary = await buildRepository(ctx, options());
  assert.deepEqual(summary.built, ['hello-1', 'world-0.9']);
  assert.deepEqual(summary.failed.map((f) => f.name).sort(), ['broken', 'failing']);
  const release = await readdir(join(repoDir, 'hello-1'));
  assert.deepEqual(release.sort(), ['SHA256SUMS', 'hello-1-arm64.raw', 'hello-1-x86-64.raw', 'hello.conf']);
  const sums = parseSums(await readFile(join(repoDir, 'hello-1', 'SHA256SUMS'), 'utf8'));
  for (const line of sums) assert.equal(line.sha256, await sha256File(join(repoDir, 'hello-1', line.file)));
  assert.match(
    await readFile(join(repoDir, 'hello', 'hello.conf'), 'utf8'),
    /^Path=https:\/\/repo\.example\.invalid\/extensions\/hello\/$/m,
  );
  const global = parseSums(await readFile(join(repoDir, 'SHA256SUMS'), 'utf8')).map((l) => l.file);
  assert.deepEqual(global, ['hello-1-arm64.raw', 'hello-1-x86-64.raw', 'world-0.9-arm64.raw', 'world-0.9-x86-64.raw']);
  const top = await readdir(repoDir);
  assert.equal(
    top.some((name) => name.startsWith('.') || name.startsWith('failing')),
    false,
    `no partial release: ${top.join(' ')}`,
  );
});

test('a second build with new upstream versions adds them and leaves published releases untouched', async () => {
  const before = await stat(join(repoDir, 'hello-1', 'hello-1-x86-64.raw'));
  const requestsBefore = builder.requests.length;
  latest.hello = ['2'];
  const summary = await buildRepository(
    ctx,
    options({ entries: parseBuildList('hello latest\nhello 1\nworld latest\n') }),
  );
  assert.deepEqual(summary.built, ['hello-2']);
  assert.deepEqual(
    summary.plan.skip.map((s) => `${s.name}-${s.version}`),
    ['hello-1', 'world-0.9'],
  );
  assert.equal(builder.requests.length - requestsBefore, 2, 'only hello-2, for two arches');
  const after = await stat(join(repoDir, 'hello-1', 'hello-1-x86-64.raw'));
  assert.equal(after.mtimeMs, before.mtimeMs);
  const perExtension = parseSums(await readFile(join(repoDir, 'hello', 'SHA256SUMS'), 'utf8')).map((l) => l.file);
  assert.deepEqual(perExtension, [
    'hello-1-arm64.raw',
    'hello-1-x86-64.raw',
    'hello-2-arm64.raw',
    'hello-2-x86-64.raw',
  ]);
});

async function gpgVerify(file: string): Promise<void> {
  await using home = await tempDir('bake-repo-verify');
  const gpg = (args: string[]) => fixtureRunner().run('gpgv', args);
  await fixtureRunner().run('gpg', [
    '--batch',
    '--homedir',
    home.path,
    '--no-default-keyring',
    '--keyring',
    join(home.path, 'trusted.gpg'),
    '--import',
    key.publicKeyPath,
  ]);
  await gpg(['--keyring', join(home.path, 'trusted.gpg'), `${file}.gpg`, file]);
  await fixtureRunner().run('gpgconf', ['--homedir', home.path, '--kill', 'gpg-agent'], { allowFailure: true });
}

test('sign with a secret key file: every manifest gets a signature gpg accepts; new metadata drops stale ones', async () => {
  const secretKey = join(work.path, 'secret.asc');
  const exported = await fixtureRunner().run('gpg', [
    '--batch',
    '--homedir',
    key.gnupgHome,
    '--armor',
    '--export-secret-keys',
    key.fingerprint,
  ]);
  await writeFile(secretKey, exported.stdout);
  const signed = await signRepository(ctx, repoDir, { key: secretKey });
  assert.deepEqual(signed.sort(), [
    'SHA256SUMS.gpg',
    'hello-1/SHA256SUMS.gpg',
    'hello-2/SHA256SUMS.gpg',
    'hello/SHA256SUMS.gpg',
    'world-0.9/SHA256SUMS.gpg',
    'world/SHA256SUMS.gpg',
  ]);
  for (const file of signed) await gpgVerify(join(repoDir, file.replace(/\.gpg$/, '')));

  latest.hello = ['3'];
  const summary = await buildRepository(ctx, options({ entries: parseBuildList('hello latest\n') }));
  assert.deepEqual(summary.metadata?.changed.sort(), ['SHA256SUMS', 'hello/SHA256SUMS']);
  assert.equal(
    await exists(join(repoDir, 'hello', 'SHA256SUMS.gpg')),
    false,
    'a signature over old content is removed',
  );
  assert.equal(await exists(join(repoDir, 'world', 'SHA256SUMS.gpg')), true, 'unchanged metadata keeps its signature');
  assert.equal(await exists(join(repoDir, 'hello-1', 'SHA256SUMS.gpg')), true);
  const again = await signRepository(ctx, repoDir, { key: key.fingerprint, homedir: key.gnupgHome });
  assert.equal(again.includes('hello-1/SHA256SUMS.gpg'), false, 'published releases are signed once');
  assert.ok(again.includes('hello-3/SHA256SUMS.gpg'));
  await gpgVerify(join(repoDir, 'hello', 'SHA256SUMS'));
});

test('serve answers the sysupdate layout with content types, HEAD and ranges', async () => {
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    fetch(`${server.url}${path}`, { headers, method });
  const sums = await get('/hello/SHA256SUMS');
  assert.equal(sums.status, 200);
  assert.equal(sums.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.equal(await sums.text(), await readFile(join(repoDir, 'hello', 'SHA256SUMS'), 'utf8'));
  assert.equal((await get('/SHA256SUMS.gpg')).headers.get('content-type'), 'application/pgp-signature');
  const imageBytes = await readFile(join(repoDir, 'hello-2', 'hello-2-arm64.raw'));
  const image = await get('/extensions/hello/hello-2-arm64.raw');
  assert.equal(image.headers.get('content-type'), 'application/octet-stream');
  assert.ok(Buffer.from(await image.arrayBuffer()).equals(imageBytes));
  const part = await get('/hello/hello-2-arm64.raw', { Range: 'bytes=100-199' });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get('content-range'), `bytes 100-199/${imageBytes.length}`);
  assert.ok(Buffer.from(await part.arrayBuffer()).equals(imageBytes.subarray(100, 200)));
  const head = await get('/hello/hello-2-arm64.raw', {}, 'HEAD');
  assert.equal(head.headers.get('content-length'), String(imageBytes.length));
  assert.equal((await get('/hello/hello-2-arm64.raw', { Range: `bytes=${imageBytes.length}-` })).status, 416);
  assert.match(await (await get('/hello.conf')).text(), /MatchPattern=hello-@v-%a\.raw/);
  assert.equal((await get('/hello-1/hello.conf')).status, 200);
  assert.equal((await get('/%2e%2e/%2e%2e/etc/passwd')).status, 404);
  assert.equal((await get('/hello/hello-9-x86-64.raw')).status, 404);
  assert.equal((await get('/SHA256SUMS', {}, 'POST')).status, 405);
});

test('list reads local and served repositories; name@version resolves to a URL whose bytes match', async () => {
  const local = await loadCatalog(ctx, repoDir);
  const remote = await loadCatalog(ctx, server.url);
  assert.deepEqual(remote.extensions, local.extensions);
  assert.deepEqual(
    local.extensions.map((e) => `${e.name}:${e.versions.join(',')}:${e.arches.join(',')}`),
    ['hello:3,2,1:arm64,x86-64', 'world:0.9:arm64,x86-64'],
  );
  const resolved = resolveImage(remote, 'hello@2', 'x86-64');
  const dest = join(work.path, 'fetched.raw');
  await ctx.http.download(resolved.url, dest, { sha256: resolved.sha256 });
  assert.equal(
    createHash('sha256')
      .update(await readFile(dest))
      .digest('hex'),
    resolved.sha256,
  );
});

test('the CLI lists a repository as JSON and fails in one line on bad input', async (t) => {
  const ws = await workspace(t);
  const listed = await runBake(ws, ['repo', 'list', repoDir, '--json']);
  assert.equal(listed.exitCode, 0, listed.stderr);
  assert.deepEqual(
    (assertJsonOutput('repo-list', listed.stdout).extensions as Array<{ name: string }>).map(
      (e: { name: string }) => e.name,
    ),
    ['hello', 'world'],
  );
  const remote = await runBake(ws, ['repo', 'list', server.url]);
  assert.match(remote.stdout, /^hello\s+arm64,x86-64\s+3 2 1$/m);
  assertOneLineError(
    await runBake(ws, ['repo', 'build', repoDir, '--config', 'missing.txt']),
    /build list missing\.txt not found/,
  );
  assertOneLineError(await runBake(ws, ['repo', 'list', join(ws.dir, 'empty')]), /has no SHA256SUMS/);
  assertOneLineError(await runBake(ws, ['repo', 'serve', repoDir, '--listen', 'nope']), /invalid --listen/);
  await writeFile(join(ws.dir, 'versions.txt'), 'hello 1\nhello 4 # pinned\n');
  const plan = await runBake(ws, [
    'repo',
    'build',
    repoDir,
    '--config',
    'versions.txt',
    '--dry-run',
    '--arch',
    'x86-64',
  ]);
  assert.equal(plan.exitCode, 0, plan.stderr);
  assert.deepEqual(plan.stdout.trim().split('\n'), ['build  hello-4 (x86-64)', 'skip   hello-1: published']);
  const outdated = await runBake(ws, ['repo', 'outdated', repoDir, '--config', 'versions.txt', '--json']);
  assert.equal(outdated.exitCode, 0, outdated.stderr);
  assert.deepEqual(assertJsonOutput('repo-outdated', outdated.stdout).missing, [
    { name: 'hello', version: '4', arches: ['x86-64', 'arm64'] },
  ]);
  const signed = await runBake(ws, [
    'repo',
    'sign',
    repoDir,
    '--key',
    key.fingerprint,
    '--homedir',
    key.gnupgHome,
    '--json',
  ]);
  assert.equal(signed.exitCode, 0, signed.stderr);
  assert.ok((assertJsonOutput('repo-sign', signed.stdout).signed as string[]).includes('hello/SHA256SUMS.gpg'));
  await gpgVerify(join(repoDir, 'hello', 'SHA256SUMS'));
});
