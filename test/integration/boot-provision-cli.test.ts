/**
 * `bake ignition` and `bake butane` as a user runs them, against a bakery served on 127.0.0.1: the JSON
 * must pass the Ignition 3.3 schema (and the real ignition-validate / butane --strict when installed),
 * and both outputs must describe the same files.
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { findTool } from '../../bake/core/exec.ts';
import type { IgnitionConfig } from '../../bake/provision/ignition.ts';
import { startMirror } from '../support/mirror.ts';

const CLI = resolve(import.meta.dirname, '../../bin/bake.js');
const schema = JSON.parse(
  await readFile(new URL('../fixtures/ignition/config-3.3.schema.json', import.meta.url), 'utf8'),
) as object;
const validate = new Ajv({ allErrors: true }).compile(schema);
const HASH = 'f'.repeat(64);

test('bake ignition and bake butane describe the bakery extensions with verified hashes', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'bake-provision-cli-'));
  await mkdir(join(root, 'www/docker'), { recursive: true });
  const mirror = await startMirror({ root: join(root, 'www') });
  t.after(async () => {
    await mirror.close();
    await rm(root, { recursive: true, force: true });
  });
  await writeFile(join(root, 'www/docker/SHA256SUMS'), `${HASH}  docker-27.3.1-x86-64.raw\n`);
  await writeFile(join(root, 'local.raw'), 'local image');
  const bake = (args: string[]) =>
    execa(process.execPath, [CLI, ...args, '--bakery-url', mirror.url, 'docker', `local:${join(root, 'local.raw')}`], {
      reject: false,
      stdin: 'ignore',
    });

  const ignition = await bake(['ignition', '--auto-update', 'restart:docker.service']);
  assert.equal(ignition.exitCode, 0, ignition.stderr);
  assert.match(ignition.stderr, /local: the file name is not local-<version>-<arch>\.raw/);
  const config = JSON.parse(ignition.stdout) as IgnitionConfig;
  assert.ok(validate(config), JSON.stringify(validate.errors));
  const files = config.storage?.files ?? [];
  assert.deepEqual(files[0]?.contents, {
    source: `${mirror.url}/docker-27.3.1-x86-64.raw`,
    verification: { hash: `sha256-${HASH}` },
  });
  assert.equal(config.storage?.links?.length, 2);

  const butane = await bake(['butane', '--auto-update', 'restart:docker.service']);
  assert.equal(butane.exitCode, 0, butane.stderr);
  const document = parseYaml(butane.stdout);
  assert.deepEqual(
    document.storage.files.map((file: { path: string }) => file.path),
    files.map((file) => file.path),
  );

  const missing = await bake(['ignition', '--auto-update', 'sometimes']);
  assert.equal(missing.exitCode, 2);
  assert.match(missing.stderr, /unknown --auto-update 'sometimes'/);

  const dir = await mkdtemp(join(root, 'validate-'));
  if (await findTool('ignition-validate')) {
    await writeFile(join(dir, 'config.ign'), ignition.stdout);
    await execa('ignition-validate', [join(dir, 'config.ign')]);
  } else t.diagnostic('ignition-validate not installed: checked against the schema only');
  if (await findTool('butane')) {
    await writeFile(join(dir, 'config.bu'), butane.stdout);
    const transpiled = await execa('butane', ['--strict', join(dir, 'config.bu')]);
    assert.ok(validate(JSON.parse(transpiled.stdout)), JSON.stringify(validate.errors));
  } else t.diagnostic('butane not installed: its output was compared with bake ignition only');
});
