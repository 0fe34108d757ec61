import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { createContext } from '../../bake/context.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { toButane } from '../../bake/provision/butane.ts';
import { dataUrl, toIgnition } from '../../bake/provision/ignition.ts';
import { mergeProvisioning } from '../../bake/provision/model.ts';
import { parseExtensionRef, type ResolvedExtension, resolveExtension } from '../../bake/provision/refs.ts';
import { NOOP_CONF, parseAutoUpdate, sysextProvisioning } from '../../bake/provision/sysexts.ts';
import { startMirror } from '../support/mirror.ts';

const schemaPath = new URL('../fixtures/ignition/config-3.3.schema.json', import.meta.url);
const ajv = new Ajv({ allErrors: true });
const validateIgnition = ajv.compile(JSON.parse(await readFile(schemaPath, 'utf8')) as object);

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);
const extensions: ResolvedExtension[] = [
  {
    name: 'docker',
    file: 'docker-27.3.1-x86-64.raw',
    url: 'https://bakery.test/extensions/docker-27.3.1-x86-64.raw',
    sha256: HASH_A,
    version: '27.3.1',
  },
  { name: 'hello', file: 'hello.raw', url: 'https://bakery.test/extensions/hello.raw', sha256: HASH_B },
];

function assertValid(config: unknown): void {
  const ok = validateIgnition(config);
  assert.ok(ok, JSON.stringify(validateIgnition.errors, null, 2));
}

test('the extension provisioning places, links, hashes and updates each image', () => {
  const config = sysextProvisioning(extensions, {
    bakeryUrl: 'https://bakery.test/extensions',
    autoUpdate: { kind: 'restart', unit: 'docker.service' },
  });
  const ignition = toIgnition(config);
  assertValid(ignition);
  const files = ignition.storage!.files!;
  const docker = files.find((file) => file.path === '/opt/extensions/docker/docker-27.3.1-x86-64.raw');
  assert.deepEqual(docker?.contents, {
    source: 'https://bakery.test/extensions/docker-27.3.1-x86-64.raw',
    verification: { hash: `sha256-${HASH_A}` },
  });
  assert.equal(docker?.mode, 0o644);
  assert.deepEqual(
    ignition.storage!.links!.map((link) => [link.path, link.target]),
    [
      ['/etc/extensions/docker.raw', '/opt/extensions/docker/docker-27.3.1-x86-64.raw'],
      ['/etc/extensions/hello.raw', '/opt/extensions/hello/hello.raw'],
    ],
  );
  const conf = files.find((file) => file.path === '/etc/sysupdate.docker.d/docker.conf');
  assert.match(
    decodeURIComponent(conf!.contents.source.slice('data:,'.length)),
    /Path=https:\/\/bakery\.test\/extensions\/docker\//,
  );
  assert.equal(files.find((file) => file.path === '/etc/sysupdate.d/noop.conf')?.contents.source, dataUrl(NOOP_CONF));
  // hello.raw carries no version, so sysupdate cannot follow it: no conf and no drop-in for it.
  assert.equal(
    files.some((file) => file.path.startsWith('/etc/sysupdate.hello.d/')),
    false,
  );
  const units = ignition.systemd!.units;
  assert.deepEqual(
    units.find((unit) => unit.name === 'systemd-sysupdate.timer'),
    { name: 'systemd-sysupdate.timer', enabled: true },
  );
  const dropins = units.find((unit) => unit.name === 'systemd-sysupdate.service')!.dropins!;
  assert.deepEqual(
    dropins.map((dropin) => dropin.name),
    ['docker.conf'],
  );
  assert.match(dropins[0]!.contents, /systemd-sysupdate -C docker update/);
  assert.match(dropins[0]!.contents, /systemctl restart docker\.service/);
});

test('without --auto-update only images and links are provisioned', () => {
  const ignition = toIgnition(sysextProvisioning(extensions, { bakeryUrl: 'https://bakery.test/extensions' }));
  assertValid(ignition);
  assert.equal(ignition.systemd, undefined);
  assert.equal(ignition.storage!.files!.length, 2);
});

test('the schema rejects what Ignition rejects', () => {
  const good = toIgnition(sysextProvisioning(extensions, { bakeryUrl: 'https://bakery.test/extensions' }));
  const badHash = structuredClone(good);
  badHash.storage!.files![0]!.contents.verification = { hash: 'sha256-xyz' };
  assert.equal(validateIgnition(badHash), false);
  const badVersion = { ...good, ignition: { version: '2.3.0' } };
  assert.equal(validateIgnition(badVersion), false);
  const unknownField = { ...good, storage: { ...good.storage, filez: [] } };
  assert.equal(validateIgnition(unknownField), false);
});

test('Butane output carries the same content as the Ignition output', () => {
  const config = sysextProvisioning(extensions, {
    bakeryUrl: 'https://bakery.test/extensions',
    autoUpdate: { kind: 'reboot' },
  });
  const yaml = toButane(config);
  // biome-ignore lint/suspicious/noExplicitAny: parsed YAML is inspected field by field
  const document = parseYaml(yaml) as Record<string, any>;
  assert.equal(document.variant, 'flatcar');
  assert.equal(document.version, '1.0.0');
  assert.equal(document.storage.files[0].contents.verification.hash, `sha256-${HASH_A}`);
  assert.equal(document.storage.links[1].target, '/opt/extensions/hello/hello.raw');
  const noop = document.storage.files.find((file: { path: string }) => file.path === '/etc/sysupdate.d/noop.conf');
  assert.equal(noop.contents.inline, NOOP_CONF);
  assert.match(yaml, /contents: \|/, 'multi-line texts are literal blocks');
  assert.match(yaml, /^ +mode: 0644$/m, 'modes are written in octal, as in Butane docs');
  assert.doesNotMatch(yaml, /mode: 420/);
  // Butane's parser (go-yaml) reads a leading 0 as octal, as YAML 1.1 does.
  const asButaneReads = parseYaml(yaml, { version: '1.1' }) as { storage: { files: Array<{ mode: number }> } };
  assert.equal(asButaneReads.storage.files[0]!.mode, 0o644, 'and read back as the same number');
  assert.match(noop.contents.inline, /^# Matches nothing, on purpose/, 'the noop conf says why it is there');
  assert.match(document.systemd.units[1].dropins[0].contents, /touch \/run\/reboot-required/);
});

test('data URLs keep text byte for byte', () => {
  assert.equal(dataUrl('a b\n'), 'data:,a%20b%0A');
  const unicode = dataUrl('grüße\n');
  assert.match(unicode, /^data:;base64,/);
  assert.equal(Buffer.from(unicode.split(',')[1]!, 'base64').toString('utf8'), 'grüße\n');
});

test('merging configs combines the drop-ins of a unit named twice', () => {
  const merged = mergeProvisioning(
    { files: [], links: [], users: [], units: [{ name: 'a.service', dropins: [{ name: 'x.conf', contents: 'x' }] }] },
    {
      files: [],
      links: [],
      users: [],
      units: [{ name: 'a.service', enabled: true, dropins: [{ name: 'y.conf', contents: 'y' }] }],
    },
  );
  assert.deepEqual(merged.units, [
    {
      name: 'a.service',
      enabled: true,
      dropins: [
        { name: 'x.conf', contents: 'x' },
        { name: 'y.conf', contents: 'y' },
      ],
    },
  ]);
});

test('extension references and auto-update actions are parsed or refused with a hint', () => {
  assert.deepEqual(parseExtensionRef('docker'), { kind: 'latest', name: 'docker' });
  assert.deepEqual(parseExtensionRef('docker@27.3.1'), { kind: 'version', name: 'docker', version: '27.3.1' });
  assert.deepEqual(parseExtensionRef('hello:./out/hello.raw'), {
    kind: 'file',
    name: 'hello',
    path: './out/hello.raw',
  });
  assert.throws(() => parseExtensionRef('docker@2-1'), /invalid version/);
  assert.throws(
    () => parseExtensionRef('bad name'),
    (error: Error & { hint?: string }) => /cannot read/.test(error.message) && /name@version/.test(error.hint ?? ''),
  );
  assert.deepEqual(parseAutoUpdate('restart:containerd.service'), { kind: 'restart', unit: 'containerd.service' });
  assert.throws(
    () => parseAutoUpdate('restart:'),
    (error: Error & { hint?: string }) => /restart:<unit>/.test(error.hint ?? ''),
  );
  assert.throws(() => parseAutoUpdate('sometimes'), /unknown --auto-update/);
});

test('references resolve against the bakery SHA256SUMS and local files', async () => {
  const root = await mkdtemp(join(tmpdir(), 'provision-refs-'));
  const mirror = await startMirror({ root });
  try {
    await mkdir(join(root, 'docker'));
    await writeFile(
      join(root, 'docker', 'SHA256SUMS'),
      [
        `${HASH_A}  docker-27.3.1-x86-64.raw`,
        `${HASH_B}  docker-27.10.0-x86-64.raw`,
        `${'c'.repeat(64)}  docker-28.0.0-arm64.raw`,
        '',
      ].join('\n'),
    );
    await writeFile(join(root, 'hello-1.0-x86-64.raw'), 'image bytes');
    const ctx = createContext({ log: memoryLogger() });
    const options = { bakeryUrl: `${mirror.url}/`, arch: 'x86-64' as const };
    const newest = await resolveExtension(ctx, parseExtensionRef('docker'), options);
    assert.deepEqual(newest, {
      name: 'docker',
      file: 'docker-27.10.0-x86-64.raw',
      url: `${mirror.url}/docker-27.10.0-x86-64.raw`,
      sha256: HASH_B,
      version: '27.10.0',
    });
    const pinned = await resolveExtension(ctx, parseExtensionRef('docker@27.3.1'), options);
    assert.equal(pinned.sha256, HASH_A);
    await assert.rejects(resolveExtension(ctx, parseExtensionRef('docker@9.9'), options), /not listed/);
    const local = await resolveExtension(
      ctx,
      parseExtensionRef(`hello:${join(root, 'hello-1.0-x86-64.raw')}`),
      options,
    );
    assert.equal(local.sha256, createHash('sha256').update('image bytes').digest('hex'));
    assert.equal(local.version, '1.0');
    await assert.rejects(resolveExtension(ctx, parseExtensionRef('x:/nonexistent.raw'), options), /does not exist/);
  } finally {
    await mirror.close();
    await rm(root, { recursive: true, force: true });
  }
});
