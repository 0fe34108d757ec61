/**
 * The unpack cache: a verified archive is unpacked once and cloned (hard-linked) into each build, an
 * unfinished or changed cache tree is never used, unverified archives are unpacked every time, and a
 * tree about to be written into gets private copies so the cache stays as unpacked.
 */

import assert from 'node:assert/strict';
import {
  appendFile,
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { createContext } from '../../bake/context.ts';
import { sha256File } from '../../bake/core/checksums.ts';
import type { BakeError } from '../../bake/core/errors.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { privatiseTree } from '../../bake/sysext/tree.ts';
import { unpackArchive } from '../../bake/sysext/unpack.ts';
import { rawTar } from '../support/fixtures/upstream-hostile.ts';

let work: string;
let archive: string;
let sha256: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'sysext-unpack-'));
  const source = join(work, 'source');
  await mkdir(join(source, 'plugins/bin'), { recursive: true });
  await writeFile(join(source, 'plugins/bin/bridge'), 'bridge\n');
  await chmod(join(source, 'plugins/bin/bridge'), 0o755);
  await writeFile(join(source, 'plugins/README'), 'readme\n');
  archive = join(work, 'plugins.tgz');
  await execa('tar', ['-czf', archive, '-C', source, 'plugins']);
  sha256 = await sha256File(archive);
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

function setup(label: string) {
  const log = memoryLogger();
  const ctx = createContext({ log, cacheDir: join(work, `cache-${label}`) });
  const tarRuns = () => log.lines.filter((line) => line.startsWith('+ tar ')).length;
  const into = async (name: string) => {
    const dir = join(work, label, name);
    await mkdir(dir, { recursive: true });
    return dir;
  };
  return { ctx, tarRuns, into, cached: join(ctx.cacheDir, 'sysext', 'unpacked', `${sha256}-strip1`, 'tree') };
}

test('a verified archive is unpacked once; later builds get hard links to the same files', async () => {
  const { ctx, tarRuns, into, cached } = setup('once');
  const first = await into('a');
  const second = await into('b');
  await unpackArchive(ctx, { archive, dir: first, strip: 1, sha256 });
  await unpackArchive(ctx, { archive, dir: second, strip: 1, sha256 });
  assert.equal(tarRuns(), 1);
  assert.deepEqual((await readdir(second)).sort(), ['README', 'bin']);
  assert.equal(await readFile(join(second, 'bin/bridge'), 'utf8'), 'bridge\n');
  assert.equal((await lstat(join(second, 'bin/bridge'))).mode & 0o777, 0o755);
  assert.equal((await lstat(join(second, 'bin/bridge'))).ino, (await lstat(join(cached, 'bin/bridge'))).ino);
});

test('without a verified checksum the archive is unpacked every time and nothing is cached', async () => {
  const { ctx, tarRuns, into } = setup('unverified');
  await unpackArchive(ctx, { archive, dir: await into('a'), strip: 1 });
  await unpackArchive(ctx, { archive, dir: await into('b'), strip: 1 });
  assert.equal(tarRuns(), 2);
  await assert.rejects(readdir(join(ctx.cacheDir, 'sysext', 'unpacked')), /ENOENT/);
});

test('an unfinished unpack or a cached file changed since is never used: the archive is unpacked afresh', async () => {
  const { ctx, tarRuns, into, cached } = setup('stale');
  // A crash mid-unpack leaves only a partial directory beside the entry, which is ignored.
  await mkdir(join(ctx.cacheDir, 'sysext', 'unpacked', `${sha256}-strip1.partial-x`, 'tree'), { recursive: true });
  await unpackArchive(ctx, { archive, dir: await into('a'), strip: 1, sha256 });
  await appendFile(join(cached, 'bin/bridge'), 'changed through a link\n');
  const dir = await into('b');
  await unpackArchive(ctx, { archive, dir, strip: 1, sha256 });
  assert.equal(tarRuns(), 2);
  assert.equal(await readFile(join(dir, 'bin/bridge'), 'utf8'), 'bridge\n');
  await rm(join(cached, 'README'));
  await unpackArchive(ctx, { archive, dir: await into('c'), strip: 1, sha256 });
  assert.equal(tarRuns(), 3);
});

test('privatiseTree gives linked files their own copy (content, mode and mtime kept) and leaves the cache alone', async () => {
  const { ctx, into, cached } = setup('private');
  const dir = await into('a');
  await unpackArchive(ctx, { archive, dir, strip: 1, sha256 });
  await utimes(join(cached, 'bin/bridge'), 1_000_000, 1_000_000);
  await privatiseTree(dir);
  const own = await lstat(join(dir, 'bin/bridge'));
  assert.equal(own.nlink, 1);
  assert.equal(own.mode & 0o777, 0o755);
  assert.equal(own.mtimeMs, 1_000_000_000);
  await writeFile(join(dir, 'bin/bridge'), 'rebuilt in a container\n');
  assert.equal(await readFile(join(cached, 'bin/bridge'), 'utf8'), 'bridge\n');
});

test('unpacking into a tree that holds cached files replaces them without touching the cache', async () => {
  const { ctx, into, cached } = setup('into');
  const dir = await into('a');
  await unpackArchive(ctx, { archive, dir, strip: 1, sha256 });
  const zipSource = join(work, 'zip-source');
  await mkdir(zipSource, { recursive: true });
  await writeFile(join(zipSource, 'README'), 'from the zip\n');
  const zip = join(work, 'overlay.zip');
  await execa('zip', ['-qj', zip, join(zipSource, 'README')]);
  await unpackArchive(ctx, { archive: zip, dir, strip: 0 });
  assert.equal(await readFile(join(dir, 'README'), 'utf8'), 'from the zip\n');
  assert.equal(await readFile(join(cached, 'README'), 'utf8'), 'readme\n');
});

test('builds unpacking the same archive at once share one complete tree and leave nothing else behind', async () => {
  const { ctx, into } = setup('together');
  const dirs = await Promise.all(['a', 'b', 'c'].map(into));
  await Promise.all(dirs.map((dir) => unpackArchive(ctx, { archive, dir, strip: 1, sha256 })));
  for (const dir of dirs) assert.equal(await readFile(join(dir, 'bin/bridge'), 'utf8'), 'bridge\n');
  assert.deepEqual(await readdir(join(ctx.cacheDir, 'sysext', 'unpacked')), [`${sha256}-strip1`]);
});

test('a zip whose member links out of it is refused as an input error naming the zip and the member', async () => {
  const { ctx, into } = setup('zip-link');
  const zipSource = join(work, 'zip-link-source');
  await mkdir(zipSource, { recursive: true });
  await symlink(join(work, 'plugins.tgz'), join(zipSource, 'tool'));
  const zip = join(work, 'link-out.zip');
  await execa('zip', ['-qy', zip, 'tool'], { cwd: zipSource });
  const dir = await into('a');
  await assert.rejects(unpackArchive(ctx, { archive: zip, dir, strip: 0 }), (error: BakeError) => {
    assert.equal(error.kind, 'input');
    assert.match(error.message, /^link-out\.zip: tool links outside its tree/);
    return true;
  });
  assert.deepEqual(await readdir(dir), []);
  assert.deepEqual(await readdir(join(work, 'zip-link')), ['a']);
});

test('a cached tree is inspected before it is stored: an archive with a device node leaves no cache entry', async () => {
  const { ctx, into } = setup('cache-device');
  const bad = join(work, 'device.tgz');
  await writeFile(bad, rawTar([{ path: 'dev/null', device: 'char' }]));
  await assert.rejects(
    unpackArchive(ctx, { archive: bad, dir: await into('a'), strip: 1, sha256: await sha256File(bad) }),
    { kind: 'input' },
  );
  assert.deepEqual(await readdir(join(ctx.cacheDir, 'sysext', 'unpacked')), []);
});

test('a zip that writes through a link it holds is an input error, and nothing lands outside', async () => {
  const { ctx, into } = setup('zip-through');
  const outside = join(work, 'zip-outside');
  const [first, second] = [join(work, 'zip-through-1'), join(work, 'zip-through-2')];
  await mkdir(outside);
  await mkdir(first);
  await mkdir(join(second, 'a'), { recursive: true });
  await symlink(outside, join(first, 'a'));
  await writeFile(join(second, 'a/planted'), 'planted\n');
  // The link comes first in the zip, the member below it after; -D keeps `a/` from being an entry.
  const zip = join(work, 'through.zip');
  await execa('zip', ['-qy', zip, 'a'], { cwd: first });
  await execa('zip', ['-qD', zip, 'a/planted'], { cwd: second });
  await assert.rejects(unpackArchive(ctx, { archive: zip, dir: await into('a'), strip: 0 }), (error: BakeError) => {
    assert.equal(error.kind, 'input');
    assert.match(error.message, /^through\.zip holds an entry unzip refuses to unpack \(unzip: .*a\/planted/);
    return true;
  });
  assert.deepEqual(await readdir(outside), []);
});
