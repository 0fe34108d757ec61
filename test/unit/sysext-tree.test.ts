/**
 * Tree helpers: walkTree's order, normaliseTree's stamps, and cloneTree copying or linking a tree into
 * another one without ever writing into a file that is already there.
 */

import assert from 'node:assert/strict';
import {
  chmod,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { cloneTree, normaliseTree, TreeConflict, walkTree } from '../../bake/sysext/tree.ts';

let work: string;
let source: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'sysext-tree-'));
  source = join(work, 'source');
  await mkdir(join(source, 'b/inner'), { recursive: true });
  await mkdir(join(source, 'a'));
  await chmod(join(source, 'a'), 0o700);
  await writeFile(join(source, 'b/tool'), 'tool\n', { mode: 0o755 });
  await writeFile(join(source, 'b/inner/data'), 'data\n', { mode: 0o640 });
  await symlink('../b/tool', join(source, 'a/tool'));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

test('walkTree lists depth first in name order', async () => {
  assert.deepEqual(
    (await walkTree(source)).map((entry) => entry.path),
    ['a', 'a/tool', 'b', 'b/inner', 'b/inner/data', 'b/tool'],
  );
});

test('normaliseTree stamps every entry and the root with the epoch', async () => {
  const tree = join(work, 'normalised');
  await cloneTree(source, tree, 'copy');
  await normaliseTree(tree, 86_400);
  for (const path of ['', 'a', 'a/tool', 'b/inner/data'])
    assert.equal((await lstat(join(tree, path))).mtimeMs, 86_400_000, path);
});

test("cloneTree 'copy' makes files of their own with the source's modes and symlinks as they are", async () => {
  const tree = join(work, 'copied');
  await cloneTree(source, tree, 'copy');
  assert.equal((await lstat(join(tree, 'a'))).mode & 0o777, 0o700);
  assert.equal((await lstat(join(tree, 'b/tool'))).mode & 0o777, 0o755);
  assert.equal((await lstat(join(tree, 'b/inner/data'))).mode & 0o777, 0o640);
  assert.equal((await lstat(join(tree, 'b/tool'))).nlink, 1);
  assert.equal(await readlink(join(tree, 'a/tool')), '../b/tool');
  assert.equal(await readFile(join(tree, 'b/inner/data'), 'utf8'), 'data\n');
});

test("cloneTree 'link' shares the source's inodes", async () => {
  const tree = join(work, 'linked');
  await cloneTree(source, tree, 'link');
  assert.equal((await lstat(join(tree, 'b/tool'))).ino, (await lstat(join(source, 'b/tool'))).ino);
  assert.equal(await readlink(join(tree, 'a/tool')), '../b/tool');
});

test('cloneTree merges into an existing tree and replaces files there instead of writing into them', async () => {
  const tree = join(work, 'merged');
  const shared = join(work, 'shared-tool');
  await mkdir(join(tree, 'b'), { recursive: true });
  await writeFile(join(tree, 'keep'), 'kept\n');
  await writeFile(shared, 'cached\n');
  await link(shared, join(tree, 'b/tool'));
  await cloneTree(source, tree, 'copy');
  assert.equal(await readFile(join(tree, 'b/tool'), 'utf8'), 'tool\n');
  assert.equal(await readFile(shared, 'utf8'), 'cached\n');
  assert.equal(await readFile(join(tree, 'keep'), 'utf8'), 'kept\n');
});

test('cloneTree refuses what is neither a file, a directory nor a symlink', async () => {
  const odd = join(work, 'odd');
  await mkdir(odd);
  await execa('mkfifo', [join(odd, 'pipe')]);
  await assert.rejects(cloneTree(odd, join(work, 'odd-copy'), 'copy'), { kind: 'input' });
});

test('cloneTree never writes through a link already in the target, and a link never replaces a folder', async () => {
  const outside = join(work, 'outside');
  await mkdir(outside);
  const target = join(work, 'link-target');
  await mkdir(target);
  await symlink(outside, join(target, 'b'));
  await assert.rejects(
    cloneTree(source, target, 'copy'),
    (error: Error) => error instanceof TreeConflict && error.kind === 'input',
  );
  assert.deepEqual(await readdir(outside), []);
  const folder = join(work, 'folder-target');
  await mkdir(join(folder, 'a/tool'), { recursive: true });
  await assert.rejects(cloneTree(source, folder, 'copy'), TreeConflict);
});
