/**
 * Hostile upstream archives against the real recipes (issue 20, item 5): whatever an archive holds,
 * bake reads and writes only inside its build tree. Each class is refused as an input error naming the
 * archive and the member (or stripped with a warning), a canary on the host stays untouched, and
 * nothing is left in the temp folder (where every build's scratch space goes) or the output folder.
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { execa } from 'execa';
import type { BakeError } from '../../bake/core/errors.ts';
import { createSysext } from '../../bake/sysext/create.ts';
import type { Recipe } from '../../bake/sysext/recipe.ts';
import { createBuildApi } from '../../bake/sysext/runner.ts';
import {
  ensureHostileBuildImage,
  HOSTILE_BUILD_IMAGE,
  removeStandInBuildImage,
} from '../support/fixtures/upstream-build-image.ts';
import { HOSTILE_ARCHIVE_PATHS, type RawMember, writeRawTar } from '../support/fixtures/upstream-hostile.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

let upstream: Upstream;
let work: string;
let host: string;
let temp: string;
const savedTmpdir = process.env.TMPDIR;

before(async () => {
  upstream = await startUpstream(['x86-64'], { only: ['docker', 'falco', 'keepalived'] });
  work = await mkdtemp(join(tmpdir(), 'confinement-archives-'));
  host = await mkdtemp(join(tmpdir(), 'bake-host-'));
  await writeFile(join(host, 'canary'), 'canary\n');
  await mkdir(join(host, 'dir'));
  await writeFile(join(host, 'dir', 'keep'), 'keep\n');
  temp = join(work, 'tmp');
  await mkdir(temp);
  process.env.TMPDIR = temp;
});

after(async () => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  await upstream?.close();
  await removeStandInBuildImage(HOSTILE_BUILD_IMAGE);
  await rm(work, { recursive: true, force: true });
  await rm(host, { recursive: true, force: true });
});

afterEach(async () => {
  assert.equal(await readFile(join(host, 'canary'), 'utf8'), 'canary\n');
  assert.deepEqual((await readdir(host)).sort(), ['canary', 'dir']);
  assert.deepEqual(await readdir(join(host, 'dir')), ['keep']);
  assert.deepEqual(await readdir(temp), [], 'a build left scratch space behind');
});

const DOCKER_BINARIES = [
  'docker',
  'dockerd',
  'docker-init',
  'docker-proxy',
  'containerd',
  'containerd-shim-runc-v2',
  'ctr',
  'runc',
];

/** docker's archive layout (one `docker/` folder of binaries) with `hostile` in place of its members. */
const dockerMembers = (hostile: RawMember[]): RawMember[] => [
  { path: 'docker/', dir: true },
  ...DOCKER_BINARIES.filter((name) => !hostile.some((member) => member.path === `docker/${name}`)).map((name) => ({
    path: `docker/${name}`,
    file: `#!/bin/sh\necho ${name}\n`,
  })),
  ...hostile,
];

/** falco's layout (`falco-<v>-x86_64/{usr,etc}`) plus `hostile`, named below the top folder. */
const falcoMembers = (version: string, hostile: RawMember[]): RawMember[] =>
  [
    { path: 'usr/bin/falco', file: '#!/bin/sh\necho falco\n' } as RawMember,
    { path: 'usr/bin/falcoctl', file: '#!/bin/sh\necho falcoctl\n' } as RawMember,
    { path: 'etc/falco/falco.yaml', file: 'engine: {}\n', mode: 0o644 } as RawMember,
    ...hostile,
  ].map((member) => ({ ...member, path: `falco-${version}-x86_64/${member.path}` }));

let builds = 0;
async function build(name: 'docker' | 'falco', version: string, members: RawMember[]) {
  await writeRawTar(join(upstream.dir, 'www'), HOSTILE_ARCHIVE_PATHS[name](version, 'x86-64'), members);
  const ctx = upstream.context({ cacheDir: join(work, 'cache') });
  const outputDir = join(work, `out-${++builds}`);
  const result = createSysext(ctx, { name, version, arch: 'x86-64', outputDir });
  return { ctx, outputDir, result };
}

/** Rejected as an input error whose message names every one of `names`; no output was written. */
async function refused(attempt: Awaited<ReturnType<typeof build>>, names: string[]): Promise<void> {
  await assert.rejects(attempt.result, (error: BakeError) => {
    assert.equal(error.kind, 'input', error.message);
    for (const name of names) assert.ok(error.message.includes(name), `${error.message} does not name ${name}`);
    return true;
  });
  await assert.rejects(readdir(attempt.outputDir), { code: 'ENOENT' });
}

test('a member linking to a host file is refused, not copied into the sysext', async () => {
  const attempt = await build(
    'docker',
    '66.6.1',
    dockerMembers([{ path: 'docker/docker', symlink: join(host, 'canary') }]),
  );
  await refused(attempt, ['docker-66.6.1.tgz', 'docker/docker']);
});

test('the CLI exits with the input code (3) and one line naming the archive and the member', async () => {
  const cliTemp = join(work, 'cli-tmp');
  await mkdir(cliTemp);
  const env: Record<string, string> = { BAKE_CACHE_DIR: join(work, 'cache'), TMPDIR: cliTemp, ...upstream.env };
  const outputDir = join(work, 'out-cli');
  await writeRawTar(
    join(upstream.dir, 'www'),
    HOSTILE_ARCHIVE_PATHS.docker('66.6.14', 'x86-64'),
    dockerMembers([{ path: 'docker/docker', symlink: join(host, 'canary') }]),
  );
  const run = await execa(
    'node',
    ['--import', 'tsx', 'bake/cli.ts', 'sysext', 'create', 'docker', '66.6.14', '--output-dir', outputDir],
    { env, reject: false },
  );
  assert.equal(run.exitCode, 3, run.stderr);
  assert.match(
    run.stderr.split('\n').at(-1)!,
    /^bake: docker-66\.6\.14\.tgz: docker\/docker links outside its tree \(to \/.*canary\): .+$/,
  );
  // tsx keeps its compile cache in TMPDIR (tsx-<uid>); that is the TypeScript loader's, not bake's.
  assert.deepEqual(
    (await readdir(cliTemp)).filter((name) => !/^tsx-\d+$/.test(name)),
    [],
  );
  await assert.rejects(readdir(outputDir), { code: 'ENOENT' });
});

test('a member climbing out with a relative link is refused', async () => {
  const climb = `${'../'.repeat(12)}${host.slice(1)}/canary`;
  const attempt = await build('docker', '66.6.2', dockerMembers([{ path: 'docker/runc', symlink: climb }]));
  await refused(attempt, ['docker-66.6.2.tgz', 'docker/runc']);
});

test('usr/lib/extension-release.d linking to a host folder is refused: bake never writes there', async () => {
  const attempt = await build(
    'falco',
    '66.6.3',
    falcoMembers('66.6.3', [{ path: 'usr/lib/extension-release.d', symlink: join(host, 'dir') }]),
  );
  await refused(attempt, ['falco-66.6.3-x86_64.tar.gz', 'falco-66.6.3-x86_64/usr/lib/extension-release.d']);
});

test('a link where the recipe has a folder is an input error naming the member, not an internal one', async () => {
  // usr/lib/systemd is a folder of falco's static files; the archive's link points inside the archive.
  const attempt = await build(
    'falco',
    '66.6.4',
    falcoMembers('66.6.4', [
      { path: 'usr/lib/systemd', symlink: '../share' },
      { path: 'usr/share/x', file: 'x\n' },
    ]),
  );
  await refused(attempt, ['falco-66.6.4-x86_64.tar.gz', 'usr/lib/systemd']);
});

test('a member the recipe needs that is missing or a folder is an input error, not an internal one', async () => {
  const missing = dockerMembers([]).filter((member) => member.path !== 'docker/runc');
  await refused(await build('docker', '66.6.12', missing), ['docker-66.6.12.tgz', 'runc']);
  await refused(await build('docker', '66.6.13', dockerMembers([{ path: 'docker/ctr', dir: true }])), [
    'docker-66.6.13.tgz',
    'ctr',
  ]);
});

test('device nodes and FIFOs are refused', async () => {
  await refused(await build('docker', '66.6.5', dockerMembers([{ path: 'docker/docker', device: 'char' }])), [
    'docker-66.6.5.tgz',
    'docker/docker',
  ]);
  await refused(await build('docker', '66.6.6', dockerMembers([{ path: 'docker/ctr', device: 'fifo' }])), [
    'docker-66.6.6.tgz',
    'docker/ctr',
  ]);
});

test('members tar will not unpack (.., hard links to host files, paths through a link) are input errors', async () => {
  const cases: Array<[string, RawMember[], string]> = [
    ['66.6.7', [{ path: 'docker/../../planted', file: 'x\n' }], 'planted'],
    ['66.6.8', [{ path: 'docker/docker', hardlink: join(host, 'canary') }], 'docker'],
    [
      '66.6.9',
      [
        { path: 'docker/out', symlink: host },
        { path: 'docker/out/planted', file: 'x\n' },
      ],
      'out/planted',
    ],
  ];
  for (const [version, hostile, member] of cases)
    await refused(await build('docker', version, dockerMembers(hostile)), [`docker-${version}.tgz`, member]);
});

test('hard links inside an archive and set-ID bits are stripped with a warning naming archive and member', async () => {
  const hardLinked = await build(
    'docker',
    '66.6.10',
    dockerMembers([{ path: 'docker/dockerd', hardlink: 'docker/docker' }]),
  );
  await hardLinked.result;
  assert.ok(
    hardLinked.ctx.log.lines.includes(
      'warning: docker-66.6.10.tgz: docker/dockerd is a hard link; kept as a file of its own',
    ),
    hardLinked.ctx.log.lines.join('\n'),
  );
  const setId = await build(
    'falco',
    '66.6.11',
    falcoMembers('66.6.11', [
      { path: 'usr/bin/falco', file: '#!/bin/sh\n', mode: 0o6755 },
      { path: 'usr/share/falco/', dir: true, mode: 0o2755 },
    ]),
  );
  const { image } = await setId.result;
  for (const member of ['usr/bin/falco', 'usr/share/falco/']) {
    assert.ok(
      setId.ctx.log.lines.includes(
        `warning: falco-66.6.11-x86_64.tar.gz: falco-66.6.11-x86_64/${member} has a set-user-ID or set-group-ID bit; cleared`,
      ),
      member,
    );
  }
  const listing = (await execa('unsquashfs', ['-lln', image])).stdout;
  assert.doesNotMatch(listing, /^\S*[sS]/m, 'a set-ID bit reached the image');
});

test("a build container's /out linking to a host file is refused before the recipe reads it", async () => {
  const image = await ensureHostileBuildImage();
  const ctx = upstream.context({ cacheDir: join(work, 'cache') });
  const outputDir = join(work, 'out-container');
  await refused(
    {
      ctx,
      outputDir,
      result: createSysext(ctx, {
        name: 'keepalived',
        version: 'v2.3.2',
        arch: 'x86-64',
        outputDir,
        options: { 'build-image': image },
      }),
    },
    [`the ${image} build's /out`, 'usr/bin/keepalived', '/etc/hostname'],
  );
});

/** A recipe that only calls `steps`, to drive the BuildApi the way a hook would. */
async function withBuildApi(
  steps: (api: ReturnType<typeof createBuildApi>, scratch: string) => Promise<void>,
): Promise<void> {
  const scratch = await mkdtemp(join(work, 'api-'));
  const recipe = { name: 'probe', arches: ['x86-64'] } as unknown as Recipe; // only the name is read by the API
  const api = createBuildApi(upstream.context(), {
    recipe,
    version: '1',
    arch: 'x86-64',
    options: {},
    root: join(scratch, 'root'),
    scratch,
  });
  await mkdir(join(scratch, 'root'));
  await steps(api, scratch);
}

test('recipe writes never go through a link in the sysext tree, wherever it points', async () => {
  await withBuildApi(async (api, scratch) => {
    const tree = await api.extract(await writeRawTar(scratch, 'tool.tgz', [{ path: 'bin/tool', file: '#!/bin/sh\n' }]));
    await api.symlink(join(host, 'dir'), 'opt/host');
    await api.symlink('../..', 'usr/lib');
    await writeFile(join(scratch, 'probe'), 'outside the root\n');
    const inputError = { kind: 'input' };
    await assert.rejects(api.writeFile('opt/host/planted', 'x\n'), inputError);
    await assert.rejects(api.install(join(tree, 'bin/tool'), 'opt/host/planted'), inputError);
    await assert.rejects(api.installTree(join(tree, 'bin'), 'usr/lib/planted'), inputError);
    await assert.rejects(api.remove('usr/lib/probe'), inputError);
    assert.equal(await readFile(join(scratch, 'probe'), 'utf8'), 'outside the root\n');
    await assert.rejects(readdir(join(scratch, 'planted')), { code: 'ENOENT' });
  });
});

test('a file read from an extracted tree is resolved inside it: a link out planted later is refused', async () => {
  await withBuildApi(async (api, scratch) => {
    const archive = await writeRawTar(scratch, 'tool.tgz', [{ path: 'bin/tool', file: '#!/bin/sh\n' }]);
    const tree = await api.extract(archive);
    // What a container build writing into its source tree could leave behind.
    await symlink(join(host, 'canary'), join(tree, 'bin/sneaky'));
    await assert.rejects(api.install(join(tree, 'bin/sneaky'), 'usr/bin/sneaky'), { kind: 'input' });
    await assert.rejects(readFile(join(scratch, 'root/usr/bin/sneaky')), { code: 'ENOENT' });
    await api.install(join(tree, 'bin/tool'), 'usr/bin/tool');
  });
});
