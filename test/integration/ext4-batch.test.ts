/**
 * The offline ROOT writer (bake/image/ext4-offline.ts) reads and writes in batches: an install runs as
 * many debugfs processes for six sysexts as for one, with links in ROOT (relative, and a slow one whose
 * target lives in a data block) that send the writes elsewhere inside ROOT. debugfs does not fail when a
 * command does: a write that cannot be done still fails the flush. A writer disposed with writes still
 * queued (a forgotten flush) fails loudly, unless the run is already failing, whose error then comes out.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { createContext } from '../../bake/context.ts';
import { BakeError, exitCodeFor, isBakeError } from '../../bake/core/errors.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { Ext4Tree, ext4Store } from '../../bake/image/ext4-offline.ts';
import { Ext4Session } from '../../bake/image/ext4-session.ts';
import { findPartition, readGpt } from '../../bake/image/gpt.ts';
import { InRootWriter } from '../../bake/image/in-root.ts';
import { PARTITION_RULES, placeSysext } from '../../bake/image/placement.ts';
import { type InstallItem, installIntoImage } from '../../bake/pipeline/install.ts';
import { makeFlatcarDisk } from '../support/fixtures/disk-image.ts';
import { type CleanupHost, withTempDir } from '../support/fixtures.ts';

/** Longer than the 60 bytes an inode holds, so debugfs keeps it in a data block. */
const SLOW_DIR = `/etc/${'x'.repeat(80)}`;

/** ROOT with /opt/extensions → ../var/ext and /etc/extensions → SLOW_DIR. */
async function rootWithLinks(t: CleanupHost): Promise<string> {
  const tree = await withTempDir(t, 'bake-ext4-tree');
  for (const dir of ['opt', 'var/ext', SLOW_DIR.slice(1)]) await mkdir(join(tree, dir), { recursive: true });
  await symlink('../var/ext', join(tree, 'opt/extensions'));
  await symlink(SLOW_DIR, join(tree, 'etc/extensions'));
  return tree;
}

/** Installs `count` small sysexts, each with a sysupdate conf; returns the image and its debugfs runs. */
async function install(t: CleanupHost, rootTree: string, count: number) {
  const dir = await withTempDir(t, 'bake-ext4-batch');
  const image = join(dir, 'disk.bin');
  await makeFlatcarDisk(image, { rootTree });
  const items: InstallItem[] = [];
  for (let index = 0; index < count; index++) {
    const name = `s${index}`;
    const [file, conf] = [join(dir, `${name}.raw`), join(dir, `${name}.conf`)];
    await writeFile(file, randomBytes(8192 + index));
    await writeFile(conf, '[Transfer]\nVerify=false\n');
    const placement = placeSysext(name, `${name}.raw`, { partition: 'root', dir: '/opt/extensions' }, undefined, true);
    items.push({ spec: { name }, image: file, conf, bytes: 8192 + index, placement });
  }
  const log = memoryLogger();
  await installIntoImage(createContext({ log, verbose: true }), image, items, () => undefined);
  return { image, items, debugfsRuns: log.lines.filter((line) => line.startsWith('+ debugfs ')).length };
}

test('an install runs as many debugfs processes for six sysexts as for one', async (t) => {
  const rootTree = await rootWithLinks(t);
  const one = await install(t, rootTree, 1);
  const six = await install(t, rootTree, 6);
  assert.equal(six.debugfsRuns, one.debugfsRuns, 'debugfs processes do not grow with the files written');
  // Reads: the paths as written, where the links lead, the slow link's data block; then two writes (the
  // queue with the files' blocks allocated; then those blocks marked written, and the stat check).
  assert.ok(six.debugfsRuns <= 5, `${six.debugfsRuns} debugfs processes`);

  const table = await readGpt(six.image);
  const fs = { image: six.image, partition: findPartition(table, 'root', six.image), label: 'ROOT' };
  await using session = new Ext4Session(createContext(), fs, { write: false });
  const tree = new Ext4Tree(session);
  for (let index = 0; index < 6; index++) {
    assert.equal(await tree.kind(`/var/ext/s${index}/s${index}.raw`), 'file', 'written where the relative link leads');
    assert.equal(await tree.readlink(`${SLOW_DIR}/s${index}.raw`), `/opt/extensions/s${index}/s${index}.raw`);
    assert.equal(await tree.kind(`/etc/sysupdate.s${index}.d/s${index}.conf`), 'file');
  }
  // The bytes as debugfs reads them back: bake copied them into the blocks debugfs allocated.
  const root = fs.partition;
  for (const [index, item] of six.items.entries()) {
    const copy = join(dirname(six.image), `read-back-${index}`);
    await execa('debugfs', [
      '-R',
      `dump /var/ext/s${index}/s${index}.raw ${copy}`,
      `${six.image}?offset=${root.offsetBytes}`,
    ]);
    assert.deepEqual(await readFile(copy), await readFile(item.image), `s${index}.raw reads back as written`);
    const conf = join(dirname(six.image), `conf-${index}`);
    await execa('debugfs', [
      '-R',
      `dump /etc/sysupdate.s${index}.d/s${index}.conf ${conf}`,
      `${six.image}?offset=${root.offsetBytes}`,
    ]);
    assert.equal(await readFile(conf, 'utf8'), '[Transfer]\nVerify=false\n');
  }
  await execa('e2fsck', ['-fn', `${six.image}?offset=${root.offsetBytes}`]);
});

test('a write debugfs cannot do fails the flush', async (t) => {
  const dir = await withTempDir(t, 'bake-ext4-full');
  const image = join(dir, 'disk.bin');
  await makeFlatcarDisk(image, { sizes: { ROOT: 16 } });
  const big = join(dir, 'big.raw');
  await writeFile(big, randomBytes(24 * 1024 * 1024));
  const fs = { image, partition: findPartition(await readGpt(image), 'root', image), label: 'ROOT' };
  await using session = new Ext4Session(createContext(), fs, { write: true });
  await using writer = new InRootWriter(ext4Store(createContext(), session), PARTITION_RULES.root);
  await writer.installFile(big, '/opt/big.raw');
  await assert.rejects(writer.flush(), (error) => error instanceof BakeError && error.kind === 'tool');
});

test('a filesystem with inline data, where blocks cannot be allocated ahead, gets debugfs copies', async (t) => {
  const dir = await withTempDir(t, 'bake-ext4-inline');
  const image = join(dir, 'root.img');
  await execa('truncate', ['-s', '64M', image]);
  await execa('mkfs.ext4', ['-q', '-F', '-b', '4096', '-O', 'inline_data', image]);
  const sizeBytes = 64 * 1024 * 1024;
  const partition = { number: 1, label: 'ROOT', typeGuid: '', partGuid: '', firstLba: 0n, lastLba: 0n, attributes: 0n };
  const fs = { image, partition: { ...partition, offsetBytes: 0, sizeBytes }, label: 'ROOT' };
  const files = { '/opt/big.raw': randomBytes(300 * 1024), '/opt/small.conf': randomBytes(5000) };
  await using session = new Ext4Session(createContext(), fs, { write: true });
  const writer = new InRootWriter(ext4Store(createContext(), session), PARTITION_RULES.root);
  for (const [path, bytes] of Object.entries(files)) {
    const source = join(dir, `source-${Object.keys(files).indexOf(path)}`);
    await writeFile(source, bytes);
    await writer.installFile(source, path);
  }
  await writer.flush();
  for (const [path, bytes] of Object.entries(files)) {
    const copy = join(dir, 'read-back');
    await execa('debugfs', ['-R', `dump ${path} ${copy}`, image]);
    assert.deepEqual(await readFile(copy), bytes, `${path} reads back as written`);
  }
  await execa('e2fsck', ['-fn', image]);
});

test('Ctrl-C during a debugfs batch ends it as interrupted, with no debugfs left behind', async (t) => {
  const dir = await withTempDir(t, 'bake-ext4-interrupt');
  const image = join(dir, `disk-${randomBytes(6).toString('hex')}.bin`);
  await makeFlatcarDisk(image);
  const fs = { image, partition: findPartition(await readGpt(image), 'root', image), label: 'ROOT' };
  const interrupt = new AbortController();
  {
    await using session = new Ext4Session(createContext({ signal: interrupt.signal }), fs, { write: true });
    assert.equal((await session.geometry()).blockSize, 4096);
    const batch = session.run(['stat /']);
    interrupt.abort();
    await assert.rejects(batch, (error) => isBakeError(error) && error.kind === 'interrupted');
  }
  const left = await execa('pgrep', ['-f', basename(image)], { reject: false });
  assert.equal(left.stdout, '', 'no debugfs is left on the image');
});

/** A small disk (ROOT with /opt and /etc/extensions), a host file to install, and what ROOT holds. */
async function smallDisk(t: CleanupHost, oemTree?: string) {
  const dir = await withTempDir(t, 'bake-ext4-dispose');
  const rootTree = join(dir, 'root');
  for (const path of ['opt', 'etc/extensions']) await mkdir(join(rootTree, path), { recursive: true });
  const image = join(dir, 'disk.bin');
  await makeFlatcarDisk(image, { rootTree, ...(oemTree ? { oemTree } : {}) });
  const file = join(dir, 'mark');
  await writeFile(file, 'mark\n');
  const fs = { image, partition: findPartition(await readGpt(image), 'root', image), label: 'ROOT' };
  const rootHolds = async (path: string) => {
    await using session = new Ext4Session(createContext(), fs, { write: false });
    return await new Ext4Tree(session).kind(path);
  };
  return { dir, image, file, fs, rootHolds };
}

test('a writer disposed with a write still queued fails with an internal error; flushed, it does not', async (t) => {
  const disk = await smallDisk(t);
  const forgotten = async () => {
    await using session = new Ext4Session(createContext(), disk.fs, { write: true });
    await using writer = new InRootWriter(ext4Store(createContext(), session), PARTITION_RULES.root);
    await writer.installFile(disk.file, '/opt/forgotten');
  };
  await assert.rejects(forgotten(), (error) => !isBakeError(error) && exitCodeFor(error) === 70);
  assert.equal(await disk.rootHolds('/opt/forgotten'), undefined, 'the queued write was not applied');
  {
    await using session = new Ext4Session(createContext(), disk.fs, { write: true });
    await using writer = new InRootWriter(ext4Store(createContext(), session), PARTITION_RULES.root);
    await writer.installFile(disk.file, '/opt/flushed');
    await writer.flush();
  }
  assert.equal(await disk.rootHolds('/opt/flushed'), 'file');
});

test('a write that fails with others queued: its own error comes out, and the queue is dropped', async (t) => {
  const disk = await smallDisk(t);
  const failing = async () => {
    await using session = new Ext4Session(createContext(), disk.fs, { write: true });
    await using writer = new InRootWriter(ext4Store(createContext(), session), PARTITION_RULES.root);
    await writer.installFile(disk.file, '/opt/queued');
    await writer.installFile(disk.file, '/usr/lib/refused');
  };
  await assert.rejects(failing(), (error) => isBakeError(error) && error.kind === 'input');
  assert.equal(await disk.rootHolds('/opt/queued'), undefined);
});

test('an install failing on OEM with ROOT writes queued reports the OEM error, not the queue', async (t) => {
  const oemTree = await withTempDir(t, 'bake-ext4-oem');
  await mkdir(join(oemTree, 'extensions'));
  // s1's directory on OEM is a link to itself: refused (input) after s0's link on ROOT was queued.
  await symlink('s1', join(oemTree, 'extensions/s1'));
  const disk = await smallDisk(t, oemTree);
  const items: InstallItem[] = ['s0', 's1'].map((name) => ({
    spec: { name },
    image: disk.file,
    bytes: 5,
    placement: placeSysext(name, `${name}.raw`, { partition: 'oem', dir: '/extensions' }, undefined, false),
  }));
  await assert.rejects(
    installIntoImage(createContext(), disk.image, items, () => undefined),
    (error) => isBakeError(error) && error.kind === 'input',
  );
  assert.equal(await disk.rootHolds('/etc/extensions/s0.raw'), undefined);
});

test('a filesystem that claims more blocks than its partition holds is refused before anything is written', async (t) => {
  const dir = await withTempDir(t, 'bake-ext4-oversized');
  const image = join(dir, 'root.img');
  await execa('truncate', ['-s', '64M', image]);
  await execa('mkfs.ext4', ['-q', '-F', '-b', '4096', image]);
  const fs = { image, partition: { offsetBytes: 0, sizeBytes: 32 * 1024 * 1024 }, label: 'ROOT' };
  await using session = new Ext4Session(createContext(), fs, { write: true });
  await assert.rejects(session.geometry(), (error) => isBakeError(error) && error.kind === 'input');
});
