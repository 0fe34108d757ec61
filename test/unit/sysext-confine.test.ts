/**
 * resolveInside follows links the way the kernel does, so a `..` after a link is taken from where the
 * link leads, not from where it stands; folderInside never creates or passes through a link.
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { existingFolderInside, folderInside, resolveInside } from '../../bake/sysext/confine.ts';

let work: string;
let tree: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'sysext-confine-'));
  tree = join(work, 'tree');
  await mkdir(join(tree, 'x/y'), { recursive: true });
  await mkdir(join(tree, 'lib'));
  await writeFile(join(tree, 'lib/real.so'), 'so\n');
  await symlink('real.so', join(tree, 'lib/short.so'));
  await symlink('../..', join(tree, 'x/y/top'));
  // Read as text, x/y/top/../../.. ends at the tree; through the link it ends above it.
  await symlink('x/y/top/../../..', join(tree, 'sneaky'));
  await symlink('/etc', join(tree, 'absolute'));
  await symlink('loop', join(tree, 'loop'));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

test('links inside the tree resolve to their real path', async () => {
  assert.equal(await resolveInside(tree, 'lib/short.so'), join(tree, 'lib/real.so'));
  assert.equal(await resolveInside(tree, 'x/y/top/lib/short.so'), join(tree, 'lib/real.so'));
  assert.equal(await resolveInside(tree, 'missing/file'), join(tree, 'missing/file'));
});

test('links out of the tree, absolute links, .. above the root and link loops resolve to nothing', async () => {
  for (const path of ['sneaky', 'sneaky/etc/passwd', 'absolute', 'absolute/passwd', '../tree/lib', 'loop']) {
    assert.equal(await resolveInside(tree, path), undefined, path);
  }
});

test('folderInside makes real folders and refuses a link on the way; existingFolderInside creates nothing', async () => {
  assert.equal(await folderInside(tree, 'made/below', 'the tree'), join(tree, 'made/below'));
  await assert.rejects(folderInside(tree, 'absolute/planted', 'the tree'), { kind: 'input' });
  await assert.rejects(folderInside(tree, 'x/y/top/planted', 'the tree'), { kind: 'input' });
  assert.equal(await existingFolderInside(tree, 'not/there', 'the tree'), undefined);
  assert.deepEqual((await readdir(tree)).sort(), ['absolute', 'lib', 'loop', 'made', 'sneaky', 'x']);
});
