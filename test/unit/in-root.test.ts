/**
 * In-root path resolution (bake/image/in-root.ts): worked examples, then a property test over random
 * trees of directories, files and links (relative, absolute, `..`, loops) held in memory, and the same
 * trees written to disk to check that the mounted-tree view agrees with the in-memory one.
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { test } from 'node:test';
import { BakeError } from '../../bake/core/errors.ts';
import {
  type EntryKind,
  MAX_LINKS,
  mountedTree,
  type PartitionRules,
  resolveInRoot,
  type TreeView,
} from '../../bake/image/in-root.ts';

type Entry = { kind: 'dir' } | { kind: 'file' } | { kind: 'link'; target: string };

/** A tree in memory: absolute path → entry; `/` is always a directory. */
class MemoryTree implements TreeView {
  readonly entries = new Map<string, Entry>([['/', { kind: 'dir' }]]);

  add(path: string, entry: Entry): this {
    for (let parent = posix.dirname(path); !this.entries.has(parent); parent = posix.dirname(parent))
      this.entries.set(parent, { kind: 'dir' });
    this.entries.set(path, entry);
    return this;
  }

  async kind(path: string): Promise<EntryKind | undefined> {
    return this.entries.get(path)?.kind;
  }

  async readlink(path: string): Promise<string> {
    const entry = this.entries.get(path);
    assert.ok(entry?.kind === 'link', `readlink on ${path}, which is not a link`);
    return entry.target;
  }
}

const ROOT: PartitionRules = { label: 'ROOT', foreign: ['/usr', '/oem'] };
const follow = { followLast: true };
const refused = (e: unknown) => e instanceof BakeError && e.kind === 'input';

test('absolute link targets mean the partition root, and .. stops there', async () => {
  const tree = new MemoryTree()
    .add('/opt/extensions', { kind: 'link', target: '/tmp/X' })
    .add('/etc/up', { kind: 'link', target: '../../../../../tmp/Y' })
    .add('/tmp/X', { kind: 'dir' });
  assert.equal(await resolveInRoot(tree, ROOT, '/opt/extensions/hello/hello.raw', follow), '/tmp/X/hello/hello.raw');
  assert.equal(await resolveInRoot(tree, ROOT, '/etc/up/z', follow), '/tmp/Y/z');
  assert.equal(
    await resolveInRoot(tree, ROOT, '/opt/extensions', { followLast: false }),
    '/opt/extensions',
    'a last link is left alone when replacing it',
  );
});

test('loops, files used as directories and links into other partitions are refused', async () => {
  const tree = new MemoryTree()
    .add('/a', { kind: 'link', target: 'b' })
    .add('/b', { kind: 'link', target: '/a' })
    .add('/f', { kind: 'file' })
    .add('/opt/extensions', { kind: 'link', target: '/oem/ext' })
    .add('/opt/lib', { kind: 'link', target: '../usr/lib' });
  for (const path of ['/a/x', '/f/x', '/opt/extensions/x', '/opt/lib/x', '/oem/x', '/usr']) {
    await assert.rejects(resolveInRoot(tree, ROOT, path, follow), refused, path);
  }
});

test(`a chain of ${MAX_LINKS} links resolves, one more is refused`, async () => {
  const chain = (length: number) => {
    const tree = new MemoryTree().add('/end', { kind: 'dir' });
    for (let i = 0; i < length; i++)
      tree.add(`/l${i}`, { kind: 'link', target: i === length - 1 ? '/end' : `l${i + 1}` });
    return tree;
  };
  assert.equal(await resolveInRoot(chain(MAX_LINKS), ROOT, '/l0/x', follow), '/end/x');
  await assert.rejects(resolveInRoot(chain(MAX_LINKS + 1), ROOT, '/l0/x', follow), refused);
});

/** mulberry32: a small seeded generator, so every run tests the same trees. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['a', 'b', 'c', 'usr', 'oem'];

function randomPath(next: () => number, allowDots: boolean): string {
  const parts = Array.from({ length: 1 + Math.floor(next() * 4) }, () => {
    const pick = next();
    if (allowDots && pick < 0.15) return '..';
    if (allowDots && pick < 0.2) return '.';
    return NAMES[Math.floor(next() * NAMES.length)]!;
  });
  return parts.join('/');
}

function randomTree(next: () => number): MemoryTree {
  const tree = new MemoryTree();
  for (let i = 0; i < 12; i++) {
    const path = `/${randomPath(next, false)}`;
    if (
      tree.entries.has(path) ||
      [...tree.entries.entries()].some(([p, e]) => e.kind !== 'dir' && path.startsWith(`${p}/`))
    )
      continue;
    const pick = next();
    const target = randomPath(next, true);
    tree.add(
      path,
      pick < 0.3
        ? { kind: 'dir' }
        : pick < 0.45
          ? { kind: 'file' }
          : { kind: 'link', target: next() < 0.5 ? `/${target}` : target },
    );
  }
  return tree;
}

/** What must hold for any result: normalised, inside the root, no link on the way, nothing foreign. */
async function checkResolved(tree: MemoryTree, resolved: string, followLast: boolean, context: string): Promise<void> {
  assert.match(resolved, /^\/([^/]+(\/[^/]+)*)?$/, context);
  const parts = resolved.split('/').filter(Boolean);
  assert.ok(!parts.includes('..') && !parts.includes('.'), context);
  assert.ok(posix.join('/host/mount', resolved).startsWith('/host/mount'), context);
  assert.ok(!ROOT.foreign.some((dir) => resolved === dir || resolved.startsWith(`${dir}/`)), `${context}: foreign`);
  let missing = false;
  for (let depth = 1; depth <= parts.length; depth++) {
    const kind = await tree.kind(`/${parts.slice(0, depth).join('/')}`);
    const last = depth === parts.length;
    if (missing) assert.equal(kind, undefined, `${context}: below a missing directory`);
    missing ||= kind === undefined;
    if (!last)
      assert.ok(kind === undefined || kind === 'dir', `${context}: /${parts.slice(0, depth).join('/')} is a ${kind}`);
    else if (followLast) assert.notEqual(kind, 'link', `${context}: the last component is a link`);
  }
}

test('property: random trees of links never resolve outside the root, through a link, or into another partition', async () => {
  let resolvedCount = 0;
  let refusedCount = 0;
  for (let seed = 1; seed <= 400; seed++) {
    const next = random(seed);
    const tree = randomTree(next);
    for (let query = 0; query < 10; query++) {
      const path = `/${randomPath(next, false)}`;
      const followLast = next() < 0.5;
      const context = `seed ${seed}, ${path}, followLast ${followLast}`;
      try {
        await checkResolved(tree, await resolveInRoot(tree, ROOT, path, { followLast }), followLast, context);
        resolvedCount++;
      } catch (error) {
        if (!refused(error)) throw error;
        refusedCount++;
      }
    }
  }
  assert.ok(
    resolvedCount > 1000 && refusedCount > 100,
    `both outcomes are exercised (${resolvedCount} resolved, ${refusedCount} refused)`,
  );
});

async function writeTree(tree: MemoryTree, dir: string): Promise<void> {
  for (const [path, entry] of [...tree.entries].sort(([a], [b]) => a.length - b.length)) {
    const host = join(dir, path);
    if (entry.kind === 'dir') await mkdir(host, { recursive: true });
    else if (entry.kind === 'file') await writeFile(host, '');
    else await symlink(entry.target, host);
  }
}

test('property: a tree on disk resolves exactly as the same tree in memory', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'bake-in-root-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  for (let seed = 1; seed <= 40; seed++) {
    const next = random(seed);
    const tree = randomTree(next);
    const dir = join(base, String(seed));
    await writeTree(tree, dir);
    for (let query = 0; query < 10; query++) {
      const path = `/${randomPath(next, false)}`;
      const outcome = (view: TreeView) =>
        resolveInRoot(view, ROOT, path, follow).catch((error: unknown) =>
          refused(error) ? 'refused' : Promise.reject(error),
        );
      assert.equal(await outcome(mountedTree(dir)), await outcome(tree), `seed ${seed}, ${path}`);
    }
  }
});
