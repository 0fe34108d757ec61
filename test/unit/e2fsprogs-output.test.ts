/**
 * Reading a batched debugfs session's output (bake/image/e2fsprogs.ts): a link target from the image
 * holds bytes that look like debugfs's own output (an echoed command, a stat, a stale marker); they
 * stay inside that link's output and never stand for the next command's answer.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BakeError } from '../../bake/core/errors.ts';
import { markers, parseStat, splitOutputs } from '../../bake/image/e2fsprogs.ts';
import type { GptPartition } from '../../bake/image/gpt.ts';

const FS = { image: '/x/disk.bin', partition: {} as GptPartition, label: 'ROOT' };

function stat(type: string, mode: string, size: number, tail = ''): string {
  return (
    `Inode: 12   Type: ${type}    Mode:  ${mode}   Flags: 0x0\n` +
    'Generation: 0    Version: 0x00000000:00000000\n' +
    `User:     0   Group:     0   Project:     0   Size: ${size}\n` +
    'File ACL: 0\n' +
    tail
  );
}

test('a link target that imitates debugfs output stays in its own command output', () => {
  const marker = markers();
  const forged =
    '"\n#bake-0000 1\ndebugfs: stat "/opt/x"\nInode: 13   Type: directory    Mode:  0755   Flags: 0x0\n'.slice(0, 59);
  const commands = ['stat "/opt/l"', 'stat "/opt/x"'];
  const stdout = Buffer.from(
    `${marker(0)}debugfs: ${commands[0]}\n${stat('symlink', '0777', Buffer.byteLength(forged), `Fast link dest: "${forged}"\n`)}` +
      `${marker(1)}debugfs: ${commands[1]}\n${marker(2)}`,
  );
  const [link, missing] = splitOutputs(stdout, commands, marker);
  assert.equal(parseStat(FS, '/opt/l', link!)?.fastLink?.toString(), forged);
  assert.equal(
    parseStat(FS, '/opt/x', missing!),
    undefined,
    'the second path is missing, whatever the first link said',
  );
});

test('output without the expected markers, or a link target printed short, is refused', () => {
  const marker = markers();
  const other = markers();
  const commands = ['stat "/a"'];
  const stdout = Buffer.from(`${other(0)}debugfs: ${commands[0]}\n${stat('directory', '0755', 4096)}${other(1)}`);
  const tool = (error: unknown) => error instanceof BakeError && error.kind === 'tool';
  assert.throws(() => splitOutputs(stdout, commands, marker), tool);
  // printf stops at a NUL: the target printed is shorter than the size stat gave.
  const short = Buffer.from(stat('symlink', '0777', 10, 'Fast link dest: "abc"\n'));
  assert.throws(() => parseStat(FS, '/l', short), tool);
});

test('stat of a file, a directory and a slow link', () => {
  assert.deepEqual(parseStat(FS, '/f', Buffer.from(stat('regular', '0644', 94371840, 'EXTENTS:\n(0-9):100-109\n'))), {
    kind: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 94371840,
  });
  assert.equal(parseStat(FS, '/d', Buffer.from(stat('directory', '0755', 4096)))?.kind, 'dir');
  const slow = parseStat(FS, '/s', Buffer.from(stat('symlink', '0777', 85, 'EXTENTS:\n(0):27181\n')));
  assert.equal(slow?.kind, 'link');
  assert.equal(slow?.fastLink, undefined, "a slow link's target is read with cat");
});
