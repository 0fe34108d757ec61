/**
 * Judges vendor outputs with tools bake does not use for writing them: qemu-img info/check/compare,
 * the compressors' own integrity tests, tar, and a loop mount of the image converted back to raw.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { readGpt } from '../../bake/image/gpt.ts';

export interface QemuInfo {
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'format-specific'?: { type: string; data: Record<string, unknown> };
}

export async function qemuInfo(path: string, format: string): Promise<QemuInfo> {
  const { stdout } = await execa('qemu-img', ['info', '-f', format, '--output=json', path]);
  return JSON.parse(stdout) as QemuInfo;
}

/** qemu-img check where the format supports it (vpc and raw do not). */
export async function qemuCheck(path: string, format: string): Promise<void> {
  const result = await execa('qemu-img', ['check', '-f', format, path], { reject: false });
  assert.equal(result.exitCode, 0, `qemu-img check ${path}: ${result.stdout} ${result.stderr}`);
}

export async function qemuCompare(raw: string, path: string, format: string): Promise<void> {
  const result = await execa('qemu-img', ['compare', '-f', 'raw', '-F', format, raw, path], { reject: false });
  assert.equal(result.exitCode, 0, `qemu-img compare ${raw} ${path}: ${result.stdout} ${result.stderr}`);
}

/** The first `bytes` of a file as a raw disk, for qemu-img (a fixed VHD keeps its disk there, footer after). */
export function rawView(path: string, bytes: number): string {
  return `json:${JSON.stringify({ driver: 'raw', size: bytes, file: { driver: 'file', filename: path } })}`;
}

export async function toRaw(path: string, format: string, dest: string): Promise<void> {
  await execa('qemu-img', ['convert', '-f', format, '-O', 'raw', path, dest]);
}

/** The compressors' own integrity tests. */
export const INTEGRITY: Record<string, string[]> = {
  bz2: ['lbzip2', '-t'],
  gz: ['pigz', '-t'],
  zip: ['unzip', '-tq'],
  zst: ['zstd', '-t', '-q'],
};

export async function testCompressed(path: string): Promise<void> {
  const ext = path.split('.').pop()!;
  const [tool, ...args] = INTEGRITY[ext]!;
  await execa(tool!, [...args, path]);
}

export interface RawContents {
  oem: Record<string, string>;
  oemSysexts: string[];
  extensionsLink: string;
  optExtension: string;
}

async function losetup(image: string, offset: number, size: number): Promise<string> {
  const { stdout } = await execa('losetup', [
    '--find',
    '--show',
    '--read-only',
    '--offset',
    String(offset),
    '--sizelimit',
    String(size),
    image,
  ]);
  return stdout.trim();
}

/** Mounts OEM (btrfs) read-only and reads ROOT (ext4) with debugfs, from a raw disk image. */
export async function readRawImage(image: string): Promise<RawContents> {
  const verify = await execa('sgdisk', ['--verify', image]);
  assert.match(verify.stdout, /No problems found/, `sgdisk --verify ${image}: ${verify.stdout}`);
  const table = await readGpt(image);
  const oem = table.partitions.find((p) => p.number === 6)!;
  const root = table.partitions.find((p) => p.number === 9)!;
  const mountPoint = await mkdtemp('/tmp/bake-judge-oem-');
  const oemDevice = await losetup(image, oem.offsetBytes, oem.sizeBytes);
  try {
    await execa('mount', ['-o', 'ro', '-t', 'btrfs', oemDevice, mountPoint]);
    try {
      const files: Record<string, string> = {};
      for (const name of ['oem-release', 'grub.cfg'])
        files[name] = await readFile(join(mountPoint, name), 'utf8').catch(() => '');
      const { stdout } = await execa('ls', ['-1', join(mountPoint, 'sysext')], { reject: false });
      const rootContents = await readRoot(image, root.offsetBytes, root.sizeBytes);
      return { oem: files, oemSysexts: stdout.split('\n').filter(Boolean), ...rootContents };
    } finally {
      await execa('umount', [mountPoint]);
    }
  } finally {
    await execa('losetup', ['--detach', oemDevice]);
    await rmdir(mountPoint);
  }
}

async function readRoot(
  image: string,
  offset: number,
  size: number,
): Promise<{ extensionsLink: string; optExtension: string }> {
  const device = await losetup(image, offset, size);
  try {
    const link = await execa('debugfs', ['-R', 'stat /etc/extensions/hello.raw', device]);
    const file = await execa('debugfs', ['-R', 'cat /opt/extensions/hello/hello-1.0-x86-64.raw', device]);
    const target = /Fast link dest: "(.*)"/.exec(link.stdout)?.[1] ?? '';
    return { extensionsLink: target, optExtension: file.stdout };
  } finally {
    await execa('losetup', ['--detach', device]);
  }
}
