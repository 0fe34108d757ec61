/**
 * Every server bake runs (`bake boot --serve`'s file server, `bake repo serve`) answers malformed
 * requests with 400 (or 404 for well-formed names it does not have) and stays up: request targets built
 * from hostile fragments are sent raw over a socket, then a good request must still be answered.
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { serveFiles } from '../../bake/boot/server.ts';
import { startRepoServer } from '../../bake/repo/serve.ts';

const FRAGMENTS = [
  '%',
  '%0',
  '%zz',
  '%E0%A4%A',
  '%00',
  '%C0%AF',
  '..%2f',
  '%2e%2e/',
  '\u00ff',
  '//',
  '?%',
  '#%',
  'a b',
  '\\..\\',
];
/** Request targets whose percent-encoding cannot be decoded: these must get exactly 400. */
const UNDECODABLE = ['/%', '/%0', '/%zz', '/%E0%A4%A', '/%00', '/%C0%AF'];

/** Every fragment alone and after every other one, plus whole request lines that are not HTTP. */
function hostileTargets(): string[] {
  return [
    ...FRAGMENTS.map((a) => `/${a}`),
    ...FRAGMENTS.flatMap((a) => FRAGMENTS.map((b) => `/${a}${b}`)),
    '*',
    'http://x/%',
    '%',
    '',
  ];
}

/** Sends `head` raw and returns the status of the answer (0 when the server closed without one). */
function rawStatus(port: number, head: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)));
    // write, not end: a half-closed socket makes node's server drop the answer. Connection: close ends it.
    socket.write(Buffer.from(head, 'latin1'));
  });
}

const get = (port: number, target: string) =>
  rawStatus(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

async function fuzz(port: number, goodPath: string): Promise<void> {
  for (const target of hostileTargets()) {
    const status = await get(port, target);
    assert.ok(status === 400 || status === 404, `${JSON.stringify(target)} → ${status}`);
  }
  for (const target of UNDECODABLE) assert.equal(await get(port, target), 400, target);
  for (const line of [
    'GARBAGE\r\n\r\n',
    'GET / HTTP/9.9\r\n\r\n',
    `GET /${'a'.repeat(20000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    '\0\0\0\r\n\r\n',
  ]) {
    const status = await rawStatus(port, line);
    assert.ok([400, 414, 431, 505].includes(status), `${JSON.stringify(line.slice(0, 20))} → ${status}`);
  }
  assert.equal(await get(port, goodPath), 200, 'still serving');
}

async function scratch(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bake-serve-fuzz-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('bake boot --serve file server: malformed requests get 400, the server stays up', async (t) => {
  const dir = await scratch(t);
  await writeFile(join(dir, 'hello.raw'), 'sysext\n');
  await using server = await serveFiles([join(dir, 'hello.raw')]);
  await fuzz(server.port, '/hello.raw');
  assert.ok(server.requests.includes('GET /% 400'), server.requests.slice(0, 5).join('\n'));
});

test('bake repo serve: malformed requests get 400, the server stays up', async (t) => {
  const dir = await scratch(t);
  await mkdir(join(dir, 'hello'));
  await writeFile(join(dir, 'SHA256SUMS'), '');
  await using server = await startRepoServer({ repoDir: dir });
  await fuzz(server.port, '/SHA256SUMS');
});
