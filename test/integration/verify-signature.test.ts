/**
 * verifySignature with the real gpg and a Flatcar-shaped test key (certify-only primary, signing
 * subkey): a good signature passes against the pinned primary fingerprint, a changed file fails closed,
 * and no gpg-agent is started for the throw-away keyring (none is left running after a check).
 */

import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { createContext } from '../../bake/context.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { verifySignature } from '../../bake/flatcar/verify.ts';
import { createSigningKey, signDetached } from '../support/fixtures/gpg.ts';
import { withTempDir } from '../support/fixtures.ts';

/** Command lines of running gpg-agents whose home is one of bake's temporary keyrings. */
async function bakeKeyringAgents(): Promise<string[]> {
  const agents: string[] = [];
  for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.startsWith('gpg-agent\0') && cmdline.includes('bake-gpg-')) agents.push(cmdline.replaceAll('\0', ' '));
  }
  return agents;
}

test('a good subkey signature verifies against the pinned primary key and starts no gpg-agent', async (t) => {
  const dir = await withTempDir(t, 'bake-verify');
  const key = await createSigningKey(join(dir, 'key'));
  t.after(() => key.close());
  const file = join(dir, 'version.txt');
  await writeFile(file, 'FLATCAR_VERSION=4593.2.5\n');
  const signature = await signDetached(key, file);
  const ctx = createContext({ log: memoryLogger() });
  // The file's bytes are handed to gpg as a stream (as during a download), so the keyring still exists
  // when gpg asks for them: an agent started for it would be running then (it quits once the keyring
  // is deleted, so looking afterwards would prove nothing).
  let agentsDuringCheck: string[] | undefined;
  const data = Readable.from(
    (async function* () {
      agentsDuringCheck = await bakeKeyringAgents();
      yield await readFile(file);
    })(),
  );

  const check = await verifySignature(
    ctx,
    { path: key.publicKeyPath, pinnedFingerprint: key.fingerprint },
    file,
    signature,
    data,
  );
  assert.deepEqual(check, { signingFingerprint: key.subkeyFingerprint, primaryFingerprint: key.fingerprint });
  assert.deepEqual(agentsDuringCheck, [], 'a gpg-agent was started for the temporary keyring');

  await writeFile(file, 'FLATCAR_VERSION=4593.2.6\n');
  await assert.rejects(
    verifySignature(ctx, { path: key.publicKeyPath }, file, signature),
    /bad signature on version\.txt/,
  );
});
