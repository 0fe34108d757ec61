/**
 * Reading, linting and verifying sysext DDIs (issue 22, part 2) against DDIs the reference writer made:
 * systemd-repart 257 in the Debian 13 root, signed with openssl-made test certificates. systemd-dissect
 * from the same root vouches that the fixtures are real; then `bake sysext lint` and the pre-bake
 * inspection get them whole, with one payload byte changed, with the wrong, an expired or no
 * certificate, for the other architecture, cut short, and with hostile tables and signature JSON.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, readFile, truncate, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import { createContext } from '../../bake/context.ts';
import { sha256File } from '../../bake/core/checksums.ts';
import { type TempDir, tempDir } from '../../bake/core/cleanup.ts';
import { isBakeError } from '../../bake/core/errors.ts';
import { isRootUser } from '../../bake/core/exec.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { readGpt } from '../../bake/image/gpt.ts';
import { matchesPattern } from '../../bake/image/placement.ts';
import { inspectSysext } from '../../bake/image/sysext-file.ts';
import { type BuildRequest, type BuiltImage, buildRepository } from '../../bake/repo/build.ts';
import { startRepoServer } from '../../bake/repo/serve.ts';
import { parseBuildList } from '../../bake/repo/versions-file.ts';
import { DDI_PARTITION_TYPES } from '../../bake/sysext/ddi-layout.ts';
import { loadCert } from '../../bake/sysext/ddi-signature.ts';
import { parseSysupdateConf, sysupdateConfs } from '../../bake/sysext/sysupdate.ts';
import { assertNothingLeft, assertOneLineError, runBake, type Workspace, workspace } from '../support/bake-cli.ts';
import { createSigningKey } from '../support/fixtures/gpg.ts';
import { guidBytes, makeRepartDdi, rewriteGptEntries } from '../support/fixtures/repart-ddi.ts';
import { fixtureRunner } from '../support/fixtures/run.ts';
import { type KeyAndCert, signingCerts } from '../support/fixtures/signing-cert.ts';
import { makeSysextImage } from '../support/fixtures/sysext.ts';
import { type SysupdateClient, sysupdateClient } from '../support/fixtures/trixie-sysupdate.ts';
import { stubUpstream } from '../support/repo-fixture.ts';
import { TSX_LOADER, throwAwayUser } from '../support/unprivileged.ts';

const skip = !isRootUser() && 'needs root for the Debian 13 root (overlay mounts in a private namespace)';
const INSPECT = resolve(import.meta.dirname, '../support/inspect-sysext.ts');

let work: TempDir;
let client: SysupdateClient;
let signer: KeyAndCert;
let stranger: KeyAndCert;
let expired: KeyAndCert;
let reissued: KeyAndCert;
/** The DDIs every test copies from, all named for the extension `hello`. */
const ddi = { erofs: '', squashfs: '', unsigned: '', arm64: '', expired: '' };

before(async () => {
  if (skip) return;
  work = await tempDir('bake-ddi-verify');
  client = await sysupdateClient();
  ({ valid: signer, stranger, expired, reissued } = await signingCerts(join(work.path, 'certs')));
  const make = async (key: keyof typeof ddi, options: Omit<Parameters<typeof makeRepartDdi>[2], 'name'>) => {
    ddi[key] = join(work.path, key, 'hello.raw');
    await makeRepartDdi(client, ddi[key], { name: 'hello', ...options });
  };
  await make('erofs', { signer });
  // Enough payload for a three-level hash tree (more than 128 × 128 blocks).
  await make('squashfs', { signer, format: 'squashfs', files: { 'usr/share/hello/blob': randomBytes(70 << 20) } });
  await make('unsigned', {});
  await make('arm64', { signer, arch: 'arm64' });
  await make('expired', { signer: expired });
});

after(async () => {
  await client?.[Symbol.asyncDispose]();
  await work?.[Symbol.asyncDispose]();
});

/** A private copy of a fixture DDI, still called hello.raw, for a test to lint or damage. */
async function copyOf(ws: Workspace, source: string): Promise<string> {
  const dir = join(ws.dir, `ddi-${Math.random().toString(36).slice(2)}`);
  await mkdir(dir);
  await copyFile(source, join(dir, 'hello.raw'));
  return join(dir, 'hello.raw');
}

async function partitionOffset(image: string, typeGuid: string): Promise<{ offset: number; size: number }> {
  const partition = (await readGpt(image)).partitions.find((p) => p.typeGuid === typeGuid)!;
  return { offset: partition.offsetBytes, size: partition.sizeBytes };
}

async function writeAt(image: string, offset: number, bytes: Buffer): Promise<void> {
  const file = await open(image, 'r+');
  await file.write(bytes, 0, bytes.length, offset);
  await file.close();
}

const lint = (ws: Workspace, image: string, ...args: string[]) => runBake(ws, ['sysext', 'lint', image, ...args]);
const inspect = async (image: string, certFiles?: string[]) =>
  inspectSysext(createContext({ log: memoryLogger() }), image, {
    name: 'hello',
    arch: 'x86-64',
    ...(certFiles ? { trustedCerts: await Promise.all(certFiles.map(loadCert)) } : {}),
  });
const X86 = DDI_PARTITION_TYPES['x86-64'];

test('systemd-dissect 257 reports the fixtures as signed verity sysexts (they are what systemd-repart makes)', {
  skip,
}, async () => {
  await mkdir(join(client.upper, 'img'), { recursive: true });
  await mkdir(join(client.upper, 'etc/verity.d'), { recursive: true });
  await copyFile(signer.cert, join(client.upper, 'etc/verity.d/signer.crt'));
  for (const key of ['erofs', 'squashfs'] as const) {
    await copyFile(ddi[key], join(client.upper, 'img/hello.raw'));
    const run = await client.run(['systemd-dissect', '--json=short', '/img/hello.raw']);
    assert.equal(run.exitCode, 0, run.stderr);
    const report = JSON.parse(run.stdout) as { useSystemExtension: boolean; mounts: Array<Record<string, unknown>> };
    assert.equal(report.useSystemExtension, true, key);
    const root = report.mounts.find((mount) => mount.designator === 'root');
    assert.equal(root?.verity, 'signed', key);
    assert.equal(root?.fstype, key);
    assert.ok(report.mounts.some((mount) => mount.designator === 'root-verity-sig'));
  }
});

test('signed erofs and squashfs DDIs lint clean with their certificate', { skip }, async (t) => {
  const ws = await workspace(t);
  for (const key of ['erofs', 'squashfs'] as const) {
    const run = await lint(ws, await copyOf(ws, ddi[key]), '--cert', signer.cert);
    assert.equal(run.exitCode, 0, `${key}: ${run.stderr}`);
    assert.match(run.stdout, /hello\.raw: ok/);
  }
  // Several certificates: any one that verifies is enough, as in /etc/verity.d.
  const image = await copyOf(ws, ddi.erofs);
  const both = await lint(ws, image, '--cert', stranger.cert, '--cert', signer.cert);
  assert.equal(both.exitCode, 0, both.stderr);
  // PKCS7_verify finds the signer by issuer and serial number: another certificate for the same key is not it.
  assert.equal((await lint(ws, image, '--cert', reissued.cert)).exitCode, 6);
});

test('one payload byte changed fails the hash tree (exit 6), in lint and before a bake', { skip }, async (t) => {
  const ws = await workspace(t);
  for (const key of ['erofs', 'squashfs'] as const) {
    const image = await copyOf(ws, ddi[key]);
    const payload = await partitionOffset(image, X86.root);
    // For squashfs, deep in the random blob, three levels below the root hash.
    const at = key === 'erofs' ? payload.offset + 100 : payload.offset + (60 << 20);
    const file = await open(image, 'r+');
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    await file.write(byte, 0, 1, at);
    await file.close();
    const run = await lint(ws, image);
    assert.equal(run.exitCode, 6, `${key}: ${run.stderr}`);
    // A one-block payload has no stored level: the root hash itself no longer matches the signed one.
    assertOneLineError(run, key === 'erofs' ? /its signature is for/ : /hash tree does not match its payload/);
    await assert.rejects(inspect(image), (error) => isBakeError(error) && error.kind === 'verify');
  }
  await assertNothingLeft(ws);
});

test('a certificate that did not sign it fails (exit 6); with no certificate the signature is not judged', {
  skip,
}, async (t) => {
  const ws = await workspace(t);
  const image = await copyOf(ws, ddi.erofs);
  const run = await lint(ws, image, '--cert', stranger.cert);
  assert.equal(run.exitCode, 6, run.stderr);
  assertOneLineError(run, /signature does not verify against/);
  await assert.rejects(inspect(image, [stranger.cert]), (error) => isBakeError(error) && error.kind === 'verify');
  const trusted = await inspect(image, [signer.cert]);
  assert.equal(trusted.ddi?.signedBy?.cert, signer.cert);
  assert.equal(trusted.format, 'erofs');
  const unjudged = await inspect(image);
  assert.deepEqual([unjudged.ddi?.signed, unjudged.ddi?.signedBy], [true, undefined]);
});

test('an expired certificate still verifies, as systemd does not check validity dates, with a warning', {
  skip,
}, async (t) => {
  const ws = await workspace(t);
  const run = await lint(ws, await copyOf(ws, ddi.expired), '--cert', expired.cert);
  assert.equal(run.exitCode, 0, run.stderr);
  assert.match(run.stderr, /expired on .*systemd does not check that/);
});

test('a DDI without a signature partition is a finding when --cert is given, and passes the inspection', {
  skip,
}, async (t) => {
  const ws = await workspace(t);
  const image = await copyOf(ws, ddi.unsigned);
  assert.equal((await lint(ws, image)).exitCode, 0);
  const run = await lint(ws, image, '--cert', signer.cert, '--json');
  assert.equal(run.exitCode, 3, run.stderr);
  const { findings } = JSON.parse(run.stdout) as { findings: Array<{ rule: string }> };
  assert.deepEqual(
    findings.map((finding) => finding.rule),
    ['signature'],
  );
  const info = await inspect(image, [signer.cert]);
  assert.deepEqual([info.ddi?.signed, info.ddi?.signedBy], [false, undefined]);
  // A bare filesystem image carries no signature either.
  const bare = await makeSysextImage(join(ws.dir, 'bare', 'hello.raw'), { name: 'hello', arch: 'x86-64' });
  const bareRun = await lint(ws, bare.path, '--cert', signer.cert);
  assert.equal(bareRun.exitCode, 3, bareRun.stderr);
  assert.match(bareRun.stdout, /carries no signature .*\[signature\]/);
});

test('a DDI for the other architecture is a lint finding and refused before a bake (exit 3)', { skip }, async (t) => {
  const ws = await workspace(t);
  const image = await copyOf(ws, ddi.arm64);
  const run = await lint(ws, image, '--arch', 'x86-64', '--cert', signer.cert, '--json');
  assert.equal(run.exitCode, 3, run.stderr);
  const rules = (JSON.parse(run.stdout) as { findings: Array<{ rule: string }> }).findings.map((f) => f.rule);
  assert.ok(rules.includes('ddi-arch'), rules.join(', '));
  await assert.rejects(inspect(image), (error) => isBakeError(error) && error.kind === 'input');
  assert.equal((await lint(ws, image, '--cert', signer.cert)).exitCode, 0, 'clean for its own arch');
});

/** A damaged copy of the signed erofs DDI: lint must refuse it with `exitCode` and a line matching `pattern`. */
async function assertRefused(
  t: TestContext,
  damage: (image: string) => Promise<void>,
  exitCode: number,
  pattern: RegExp,
) {
  const ws = await workspace(t);
  const image = await copyOf(ws, ddi.erofs);
  await damage(image);
  const run = await lint(ws, image, '--cert', signer.cert);
  assert.equal(run.exitCode, exitCode, run.stderr);
  assertOneLineError(run, pattern);
  await assertNothingLeft(ws);
}

test('a DDI cut short is refused (exit 3)', { skip }, async (t) => {
  await assertRefused(t, async (image) => truncate(image, 600 * 1024), 3, /outside the disk's usable space/);
});

test('hostile signature partitions are refused (exit 3 malformed, 6 inconsistent)', { skip }, async (t) => {
  const sig = async (image: string) => partitionOffset(image, X86['root-verity-sig']);
  const json = async (image: string, text: string) => {
    const { offset, size } = await sig(image);
    const bytes = Buffer.alloc(size);
    bytes.write(text);
    await writeAt(image, offset, bytes);
  };
  await assertRefused(t, (image) => json(image, 'not json at all'), 3, /does not hold JSON/);
  await assertRefused(t, (image) => json(image, '{"rootHash":"AB","signature":"x"}'), 3, /no rootHash/);
  await assertRefused(t, (image) => json(image, '[1,2,3]'), 3, /no rootHash/);
  await assertRefused(
    t,
    async (image) => {
      const { offset, size } = await sig(image);
      await writeAt(image, offset + size - 1, Buffer.from('x'));
    },
    3,
    /data after the NUL padding/,
  );
  // Well-formed JSON, with the signed root hash or the certificate's fingerprint replaced.
  const edited = (field: string, value: string) => async (image: string) => {
    const { offset, size } = await sig(image);
    const bytes = await readFile(image).then((all) => all.subarray(offset, offset + size));
    const parsed = JSON.parse(bytes.subarray(0, bytes.indexOf(0)).toString()) as Record<string, string>;
    await json(image, JSON.stringify({ ...parsed, [field]: value }));
  };
  await assertRefused(t, edited('rootHash', 'f'.repeat(64)), 6, /its signature is for f{64}/);
  await assertRefused(t, edited('certificateFingerprint', 'a'.repeat(64)), 6, /names certificate a{64}/);
});

test('hostile partition tables are refused (exit 3)', { skip }, async (t) => {
  const entry = (image: string, mutate: Parameters<typeof rewriteGptEntries>[1]) => rewriteGptEntries(image, mutate);
  // The hash partition moved onto the payload.
  await assertRefused(
    t,
    (image) =>
      entry(image, (entries) => {
        entries[1]!.writeBigUInt64LE(entries[0]!.readBigUInt64LE(40), 32);
      }),
    3,
    /overlap/,
  );
  await assertRefused(
    t,
    (image) => entry(image, (entries) => entries[2]!.writeBigUInt64LE(1n << 50n, 40)),
    3,
    /outside the disk's usable space/,
  );
  await assertRefused(
    t,
    (image) => entry(image, (entries) => guidBytes(X86.root).copy(entries[1]!, 0)),
    3,
    /more than one root partition/,
  );
  await assertRefused(
    t,
    (image) => entry(image, (entries) => guidBytes('0fc63daf-8483-4772-8e79-3d69d8477de4').copy(entries[2]!, 0)),
    3,
    /type 0fc63daf-8483-4772-8e79-3d69d8477de4/,
  );
  await assertRefused(
    t,
    (image) => entry(image, (entries) => guidBytes(DDI_PARTITION_TYPES.arm64['root-verity-sig']).copy(entries[2]!, 0)),
    3,
    /different architectures/,
  );
  await assertRefused(
    t,
    (image) => entry(image, (_entries, header) => header.writeUInt32LE(0x7fffffff, 80)),
    3,
    /damaged GPT/,
  );
  await assertRefused(t, async (image) => writeAt(image, 1024, Buffer.from('tampered entry')), 3, /fail their CRC32/);
});

test('lint and the pre-bake inspection verify DDIs as an ordinary user', { skip }, async (t) => {
  const user = await throwAwayUser(t, 'bake-ddi-test');
  const image = join(user.dir, 'hello.raw');
  await copyFile(ddi.erofs, image);
  const cert = join(user.dir, 'signer.crt');
  await copyFile(signer.cert, cert);
  await user.give(image);
  await user.give(cert);
  const run = await user.bake(['sysext', 'lint', image, '--cert', cert]);
  assert.equal(run.exitCode, 0, run.stderr);
  assert.doesNotMatch(run.stderr, /\+ sudo /);
  const inspected = await user.node(['--import', TSX_LOADER, INSPECT, image, 'hello', 'x86-64', cert]);
  assert.equal(inspected.exitCode, 0, inspected.stderr);
  assert.equal(inspected.stdout.trim(), 'erofs');
  const wrong = join(user.dir, 'stranger.crt');
  await copyFile(stranger.cert, wrong);
  await user.give(wrong);
  const refused = await user.node(['--import', TSX_LOADER, INSPECT, image, 'hello', 'x86-64', wrong]);
  assert.equal(refused.exitCode, 6, refused.stderr);
});

test('bake repo build and sign publish a DDI like any image, and systemd-sysupdate installs it by its conf', {
  skip,
}, async () => {
  const repoDir = join(work.path, 'repo');
  const server = await startRepoServer({ repoDir });
  const key = await createSigningKey(join(work.path, 'gpg'));
  try {
    const summary = await buildRepository(createContext({ log: memoryLogger() }), {
      repoDir,
      entries: parseBuildList('hello 1\n'),
      arches: ['x86-64'],
      upstream: stubUpstream({}),
      builder: ddiBuilder,
      bakeryUrl: server.url,
      verify: true,
      signingKey: { key: key.fingerprint, homedir: key.gnupgHome },
    });
    assert.deepEqual([summary.built, summary.failed], [['hello-1'], []]);
    assert.ok(summary.signed.includes('hello/SHA256SUMS.gpg'), summary.signed.join(', '));
    const published = join(repoDir, 'hello-1', 'hello-1-x86-64.raw');
    const sums = await readFile(join(repoDir, 'hello', 'SHA256SUMS'), 'utf8');
    assert.equal(sums, `${await sha256File(published)}  hello-1-x86-64.raw\n`);
    const target = parseSysupdateConf(await readFile(join(repoDir, 'hello', 'hello.conf'), 'utf8'), 'hello.conf');
    assert.ok(target.matchPatterns.every((pattern) => matchesPattern('hello-1-x86-64.raw', pattern, 'x86-64')));

    await mkdir(join(client.upper, 'etc/systemd'), { recursive: true });
    await fixtureRunner().run('gpg', [
      ...['--batch', '--homedir', key.gnupgHome, '--output', join(client.upper, 'etc/systemd/import-pubring.gpg')],
      ...['--export', key.fingerprint],
    ]);
    await mkdir(join(client.upper, 'etc/sysupdate.d'), { recursive: true });
    await mkdir(join(client.upper, 'etc/extensions'), { recursive: true });
    await copyFile(join(repoDir, 'hello', 'hello.conf'), join(client.upper, 'etc/sysupdate.d/hello.conf'));
    const update = await client.sysupdate(['update'], { timeoutMs: 60_000 });
    assert.equal(update.exitCode, 0, `${update.stdout}\n${update.stderr}`);
    const installed = join(client.upper, 'opt/extensions/hello/hello-1-x86-64.raw');
    assert.equal(await sha256File(installed), await sha256File(ddi.erofs));
    // What the client installed is the signed DDI, whole: bake's inspection still verifies it.
    assert.equal((await inspect(installed, [signer.cert])).ddi?.signedBy?.cert, signer.cert);
  } finally {
    await server.close();
    await key.close();
  }
});

/** The repository's builder, handing out the signed DDI under the name the repository asks for. */
async function ddiBuilder(request: BuildRequest): Promise<BuiltImage> {
  await copyFile(ddi.erofs, request.outputFile);
  const confs = [];
  for (const conf of sysupdateConfs({
    ...request.sysupdate,
    name: request.name,
    version: request.version,
    patchLevel: false,
  })) {
    await writeFile(join(request.outputDir, conf.fileName), conf.text);
    confs.push(join(request.outputDir, conf.fileName));
  }
  return { image: request.outputFile, confs };
}
