/** `bake repo serve` tells the person running it what it answered, one line per request. */

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runServe, workspace } from '../support/bake-cli.ts';

test('repo serve logs every request with its status, without --verbose', async (t) => {
  const ws = await workspace(t);
  await writeFile(join(ws.dir, 'SHA256SUMS'), '');
  const server = await runServe(t, ws, ws.dir);
  assert.equal((await fetch(`${server.url}/SHA256SUMS`)).status, 200);
  assert.equal((await fetch(`${server.url}/nothing-here`)).status, 404);
  const logged = await server.stop();
  assert.match(logged, /GET \/SHA256SUMS 200/);
  assert.match(logged, /GET \/nothing-here 404/);
});
