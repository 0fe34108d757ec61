import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { markerMatches, writeMarker } from '../../bake/core/cache.ts';

test('a link planted at a marker is replaced, never written through', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bake-marker-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [file, marker, victim] = [join(dir, 'image'), join(dir, 'image.verified'), join(dir, 'victim')];
  await writeFile(file, 'verified bytes');
  await writeFile(victim, 'untouched');
  await symlink(victim, marker);
  await writeMarker(marker, [file], '', 'identity');
  assert.equal(await readFile(victim, 'utf8'), 'untouched');
  assert.ok((await lstat(marker)).isFile(), 'the marker is a file of its own');
  assert.ok(await markerMatches(marker, [file], '', 'identity'));
});
