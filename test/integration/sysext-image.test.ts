/**
 * Image building with real tools: every format from one tree, byte-identical rebuilds where the format
 * allows it, systemd-dissect recognising the result as an extension, SHA256SUMS, and bad input leaving
 * nothing behind.
 */

import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { createContext } from '../../bake/context.ts';
import { sha256File } from '../../bake/core/checksums.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { packSysext } from '../../bake/sysext/create.ts';
import { IMAGE_FORMATS, type ImageFormat } from '../../bake/sysext/image.ts';
import { lintSysext } from '../../bake/sysext/lint.ts';
import { standInElf } from '../support/fixtures/upstream-elf.ts';

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sysext-image-test-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function makeTree(dir: string): Promise<string> {
  const tree = join(dir, 'tree');
  await mkdir(join(tree, 'usr/bin'), { recursive: true });
  await mkdir(join(tree, 'usr/lib/systemd/system/multi-user.target.d'), { recursive: true });
  await writeFile(join(tree, 'usr/bin/hello'), standInElf('x86-64', 'hello from sysext'));
  await chmod(join(tree, 'usr/bin/hello'), 0o755);
  await symlink('hello', join(tree, 'usr/bin/hi'));
  await writeFile(join(tree, 'usr/lib/systemd/system/hello.service'), '[Service]\nExecStart=/usr/bin/hello\n');
  await writeFile(
    join(tree, 'usr/lib/systemd/system/multi-user.target.d/10-hello.conf'),
    '[Unit]\nUpholds=hello.service\n',
  );
  await mkdir(join(tree, 'opt/hello'), { recursive: true });
  await writeFile(join(tree, 'opt/hello/README'), 'stand-in\n');
  return tree;
}

const ctx = () => createContext({ log: memoryLogger() });

for (const format of Object.keys(IMAGE_FORMATS) as ImageFormat[]) {
  test(`pack builds a ${format} sysext that systemd-dissect accepts${IMAGE_FORMATS[format].reproducible ? ', byte-identical twice' : ''}`, async () => {
    await withDir(async (dir) => {
      const tree = await makeTree(dir);
      const first = await packSysext(ctx(), {
        dir: tree,
        name: 'hello',
        arch: 'x86-64',
        outputDir: join(dir, 'a'),
        format,
        forceReload: true,
      });
      assert.equal(first.image, join(dir, 'a', 'hello.raw'));
      const sums = await readFile(first.sha256sums, 'utf8');
      assert.equal(sums, `${await sha256File(first.image)}  hello.raw\n`);
      const dissect = await execa('systemd-dissect', [first.image]);
      assert.match(dissect.stdout, /✓ extension for system/);
      assert.match(dissect.stdout, /ARCHITECTURE=x86-64/);
      assert.match(dissect.stdout, /EXTENSION_RELOAD_MANAGER=1/);
      assert.deepEqual(await lintSysext(ctx(), first.image, { arch: 'x86-64' }), []);
      if (IMAGE_FORMATS[format].reproducible) {
        await writeFile(join(tree, 'opt/hello/README'), 'stand-in\n'); // new mtime, same content
        const second = await packSysext(ctx(), {
          dir: tree,
          name: 'hello',
          arch: 'x86-64',
          outputDir: join(dir, 'b'),
          format,
          forceReload: true,
        });
        assert.equal(await sha256File(second.image), await sha256File(first.image));
      }
    });
  });
}

test('extension-release carries ID, SYSEXT_LEVEL for a named OS, and the output file name', async () => {
  await withDir(async (dir) => {
    const tree = await makeTree(dir);
    const result = await packSysext(ctx(), {
      dir: tree,
      name: 'hello',
      arch: 'x86-64',
      outputDir: dir,
      outputFile: 'hello-1.0-x86-64',
      os: 'flatcar',
    });
    assert.equal(result.image, join(dir, 'hello-1.0-x86-64.raw'));
    const { stdout } = await execa('unsquashfs', [
      '-cat',
      result.image,
      'usr/lib/extension-release.d/extension-release.hello',
    ]);
    assert.equal(stdout, 'ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64');
    assert.match(await readFile(result.sha256sums, 'utf8'), / {2}hello-1\.0-x86-64\.raw\n$/);
  });
});

test('pack refuses to replace an existing image without force, as bake does', async () => {
  await withDir(async (dir) => {
    const tree = await makeTree(dir);
    const request = { dir: tree, name: 'hello', arch: 'x86-64' as const, outputDir: dir };
    await writeFile(join(dir, 'hello.raw'), 'an image the user keeps');
    await assert.rejects(packSysext(ctx(), request), (error: Error & { kind?: string }) => error.kind === 'exists');
    assert.equal(await readFile(join(dir, 'hello.raw'), 'utf8'), 'an image the user keeps');
    const replaced = await packSysext(ctx(), { ...request, force: true });
    assert.notEqual(await readFile(replaced.image, 'utf8'), 'an image the user keeps');
  });
});

test('a tree with usr/sbin is refused with one line and leaves no output behind', async () => {
  await withDir(async (dir) => {
    const tree = await makeTree(dir);
    await mkdir(join(tree, 'usr/sbin'));
    await writeFile(join(tree, 'usr/sbin/tool'), '#!/bin/sh\n');
    const out = join(dir, 'out');
    await assert.rejects(
      packSysext(ctx(), { dir: tree, name: 'hello', arch: 'x86-64', outputDir: out }),
      (error: Error & { kind?: string }) => {
        assert.equal(error.kind, 'input');
        assert.match(error.message, /usr\/sbin.*\[usr-sbin\]/);
        return true;
      },
    );
    assert.deepEqual(await readdir(dir), ['tree']);
  });
});

test('an unknown format and a missing directory are usage and input errors', async () => {
  await withDir(async (dir) => {
    const tree = await makeTree(dir);
    await assert.rejects(
      packSysext(ctx(), { dir: tree, name: 'hello', arch: 'x86-64', outputDir: dir, format: 'zip' as ImageFormat }),
      /unknown image format 'zip'/,
    );
    await assert.rejects(
      packSysext(ctx(), { dir: join(dir, 'nope'), name: 'hello', arch: 'x86-64', outputDir: dir }),
      /is not a directory/,
    );
  });
});

test('the wrong architecture fails lint on ELF files', async () => {
  await withDir(async (dir) => {
    const tree = await makeTree(dir);
    await assert.rejects(
      packSysext(ctx(), { dir: tree, name: 'hello', arch: 'arm64', outputDir: join(dir, 'out') }),
      /ELF machine 62, expected 183/,
    );
  });
});
