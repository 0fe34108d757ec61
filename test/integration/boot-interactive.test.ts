/**
 * `bake boot` interactively: the VM runs on the terminal (here a pipe) next to the built-in server for
 * --serve files, and SIGINT stops both and leaves nothing behind.
 */

import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { assertNothingLeft, workspace } from '../support/bake-cli.ts';
import { makeBootableDisk } from '../support/fixtures/bootable.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';

const CLI = resolve(import.meta.dirname, '../../bin/bake.js');

async function until<T>(what: string, seconds: number, probe: () => T | undefined): Promise<T> {
  for (let waited = 0; waited < seconds * 4; waited++) {
    const value = probe();
    if (value !== undefined) return value;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('bake boot serves --serve files while the VM runs and stops everything on SIGINT', {
  timeout: 5 * 60_000,
}, async (t) => {
  const ws = await workspace(t);
  const image = join(ws.dir, 'flatcar_production_image.bin');
  await makeBootableDisk(image);
  const sysext = await makeSysextImage(join(ws.dir, 'hello-1.0-x86-64.raw'), {
    name: 'hello',
    arch: 'x86-64',
    id: 'flatcar',
  });
  const vm = execa(
    process.execPath,
    [
      CLI,
      'boot',
      '--serve',
      `hello:${sysext.path}`,
      '--ssh-port',
      String(20000 + Math.floor(Math.random() * 20000)),
      '--memory',
      '1024',
      image,
    ],
    {
      cwd: ws.dir,
      env: { ...ws.env, HOME: ws.dir },
      reject: false,
      stdin: 'ignore',
      timeout: 240_000,
      all: true,
    },
  );
  let output = '';
  vm.all?.on('data', (chunk: Buffer) => {
    output += chunk.toString('latin1');
  });
  try {
    const port = await until(
      'the server',
      60,
      () => /serving hello to the guest at http:\/\/10\.0\.2\.2:(\d+)/.exec(output)?.[1],
    );
    const served = await fetch(`http://127.0.0.1:${port}/hello-1.0-x86-64.raw`);
    assert.equal(served.status, 200);
    assert.equal(Buffer.from(await served.arrayBuffer()).length, (await import('node:fs')).statSync(sysext.path).size);
    await until('the guest kernel', 120, () => (/Linux version/.test(output) ? true : undefined));
    vm.kill('SIGINT');
    const result = await vm;
    assert.equal(result.exitCode, 130, output.slice(-2000));
    await assert.rejects(fetch(`http://127.0.0.1:${port}/hello-1.0-x86-64.raw`), 'the server is closed');
  } finally {
    vm.kill('SIGKILL');
  }
  const { stdout } = await execa('ps', ['-eo', 'args']);
  assert.equal(
    stdout
      .split('\n')
      .filter((line) => line.includes('qemu-system') && line.includes(ws.dir))
      .join('\n'),
    '',
  );
  await assertNothingLeft(ws, []);
});
