/**
 * Others can write into a repository: links planted at the names `bake repo build|sign` write, or
 * pointing out of the repository, must never make bake write, copy or serve a file outside it.
 */

import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import { createContext } from '../../bake/context.ts';
import { type TempDir, tempDir } from '../../bake/core/cleanup.ts';
import { isBakeError } from '../../bake/core/errors.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { buildRepository } from '../../bake/repo/build.ts';
import { startRepoServer } from '../../bake/repo/serve.ts';
import { signRepository } from '../../bake/repo/sign.ts';
import { parseBuildList } from '../../bake/repo/versions-file.ts';
import { createSigningKey, type SigningKey } from '../support/fixtures/gpg.ts';
import { fixtureRunner } from '../support/fixtures/run.ts';
import { localBuilder, stubUpstream } from '../support/repo-fixture.ts';

const PRECIOUS = 'precious, outside the repository\n';
let work: TempDir;
let key: SigningKey;
const ctx = createContext({ log: memoryLogger() });

before(async () => {
  work = await tempDir('bake-repo-links');
  key = await createSigningKey(join(work.path, 'key'));
});

after(async () => {
  await key?.close();
  await work?.[Symbol.asyncDispose]();
});

/** A fresh repository and, beside it, a directory with a file the planted links aim at. */
async function setting(t: TestContext): Promise<{ repo: string; outside: string; victim: string }> {
  const dir = join(work.path, t.name.replace(/\W+/g, '-').slice(0, 40));
  const [repo, outside] = [join(dir, 'repo'), join(dir, 'outside')];
  await mkdir(repo, { recursive: true });
  await mkdir(outside);
  await writeFile(join(outside, 'victim'), PRECIOUS);
  t.after(() => rm(dir, { recursive: true, force: true }));
  return { repo, outside, victim: join(outside, 'victim') };
}

const build = (repoDir: string) =>
  buildRepository(ctx, {
    repoDir,
    entries: parseBuildList('hello latest\n'),
    arches: ['x86-64'],
    upstream: stubUpstream({ hello: ['1'] }),
    builder: localBuilder().build,
    bakeryUrl: 'https://repo.example.invalid/extensions',
    verify: false,
  });

test('repo build does not write through a link planted at a predictable temp name', async (t) => {
  const { repo, victim } = await setting(t);
  await mkdir(join(repo, 'hello'));
  for (const name of ['SHA256SUMS', 'hello/SHA256SUMS', 'hello/hello.conf'])
    await symlink(victim, join(repo, `${name}.tmp-${process.pid}`));
  await build(repo);
  assert.equal(await readFile(victim, 'utf8'), PRECIOUS);
  assert.ok((await lstat(join(repo, 'SHA256SUMS'))).isFile());
});

test('repo build refuses an extension metadata directory that links out of the repository', async (t) => {
  const { repo, outside } = await setting(t);
  await symlink(outside, join(repo, 'hello'));
  await assert.rejects(build(repo), (error: unknown) => isBakeError(error) && error.kind === 'input');
  assert.deepEqual(await readdir(outside), ['victim']);
});

test('a conf in a release that links elsewhere is not copied into the metadata', async (t) => {
  const { repo, victim } = await setting(t);
  await build(repo);
  await symlink(victim, join(repo, 'hello-1', 'evil.conf'));
  await build(repo);
  await assert.rejects(lstat(join(repo, 'hello', 'evil.conf')));
  assert.ok((await readdir(join(repo, 'hello'))).includes('hello.conf'));
});

test('repo sign does not write through a link planted at SHA256SUMS.gpg', async (t) => {
  const { repo, victim } = await setting(t);
  await build(repo);
  await symlink(victim, join(repo, 'SHA256SUMS.gpg'));
  await signRepository(ctx, repo, { key: key.fingerprint, homedir: key.gnupgHome });
  assert.equal(await readFile(victim, 'utf8'), PRECIOUS);
  assert.ok((await lstat(join(repo, 'SHA256SUMS.gpg'))).isFile());
  await fixtureRunner().run('gpg', [
    '--homedir',
    key.gnupgHome,
    '--batch',
    '--verify',
    join(repo, 'SHA256SUMS.gpg'),
    join(repo, 'SHA256SUMS'),
  ]);
});
test('repo serve serves no file whose real path leaves the repository; --follow-symlinks only links inside it', async (t) => {
  const { repo, outside } = await setting(t);
  await build(repo);
  await symlink(outside, join(repo, 'etc'));
  await symlink(join(outside, 'victim'), join(repo, 'victim.txt'));
  await symlink('hello-1/SHA256SUMS', join(repo, 'latest.txt'));
  const status = async (url: string, path: string) => (await fetch(`${url}${path}`)).status;
  {
    await using server = await startRepoServer({ repoDir: repo });
    assert.deepEqual(
      [
        await status(server.url, '/etc/victim'),
        await status(server.url, '/victim.txt'),
        await status(server.url, '/latest.txt'),
      ],
      [404, 404, 404],
    );
    assert.equal(await status(server.url, '/hello-1/SHA256SUMS'), 200);
  }
  await using server = await startRepoServer({ repoDir: repo, followSymlinks: true });
  assert.deepEqual(
    [
      await status(server.url, '/etc/victim'),
      await status(server.url, '/victim.txt'),
      await status(server.url, '/latest.txt'),
    ],
    [404, 404, 200],
  );
});
