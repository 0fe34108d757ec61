/**
 * A --trust-cert file is read once: the pre-bake check of a signed DDI verifies against the certificate
 * text `loadTrust` validated (the text installed as /etc/verity.d/<name>.crt), never against the file
 * again. The file is replaced or removed between the two steps, as a hostile neighbour could; no race,
 * the swap is simply done in between.
 */

import assert from 'node:assert/strict';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createContext } from '../../bake/context.ts';
import { type TempDir, tempDir } from '../../bake/core/cleanup.ts';
import { isBakeError } from '../../bake/core/errors.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { DEFAULT_INSTALL_TARGET } from '../../bake/image/placement.ts';
import { prepareSysext } from '../../bake/pipeline/sources.ts';
import { loadTrust, type TrustPlan } from '../../bake/pipeline/trust.ts';
import { packSysext } from '../../bake/sysext/create.ts';
import { type SigningCerts, signingCerts } from '../support/fixtures/signing-cert.ts';

let work: TempDir;
let certs: SigningCerts;
/** `hello` as a DDI signed with `certs.valid`. */
let signed: string;
const ctx = () => createContext({ log: memoryLogger() });

before(async () => {
  work = await tempDir('bake-trust-once');
  certs = await signingCerts(join(work.path, 'certs'));
  const tree = join(work.path, 'tree');
  await mkdir(join(tree, 'usr/share/hello'), { recursive: true });
  await writeFile(join(tree, 'usr/share/hello/mark'), 'hello\n');
  const packed = await packSysext(ctx(), {
    dir: tree,
    name: 'hello',
    arch: 'x86-64',
    outputDir: work.path,
    ddi: { signing: certs.valid },
  });
  signed = packed.image;
});

after(() => work?.[Symbol.asyncDispose]());

/** The trust plan for a private copy of `cert` named fleet.pem, and that copy's path. */
async function trustIn(dir: string, cert: string): Promise<{ trust: TrustPlan; file: string }> {
  await mkdir(dir);
  const file = join(dir, 'fleet.pem');
  await copyFile(cert, file);
  const trust = await loadTrust({ certFiles: [file], requireSigned: true });
  assert.ok(trust);
  return { trust, file };
}

const prepare = (trust: TrustPlan) =>
  prepareSysext(
    ctx(),
    { name: 'hello', source: 'local', file: signed },
    { arch: 'x86-64', installTo: DEFAULT_INSTALL_TARGET, workDir: work.path, trust },
  );

test('a --trust-cert file replaced by another certificate after validation does not change what verifies', async () => {
  const { trust, file } = await trustIn(join(work.path, 'swapped'), certs.valid.cert);
  await copyFile(certs.stranger.cert, file);
  const prepared = await prepare(trust);
  assert.equal(prepared.info.ddi?.signedBy?.fingerprint, trust.certificates[0]?.fingerprint);
});

test('a --trust-cert file removed after validation is not needed again', async () => {
  const { trust, file } = await trustIn(join(work.path, 'removed'), certs.valid.cert);
  await rm(file);
  const prepared = await prepare(trust);
  assert.equal(prepared.info.ddi?.signedBy?.cert, file);
});

test('the validated certificate still decides: a stranger validated, the right one swapped in, is refused', async () => {
  const { trust, file } = await trustIn(join(work.path, 'stranger'), certs.stranger.cert);
  await copyFile(certs.valid.cert, file);
  await assert.rejects(prepare(trust), (error) => isBakeError(error) && error.kind === 'verify');
});
