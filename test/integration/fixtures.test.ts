/**
 * The fixtures are what they claim to be, as judged by tools we did not write: sgdisk reads the GPT,
 * blkid the filesystems, e2fsck checks ROOT, btrfs restore and mtools read file contents, gpg verifies
 * the signatures with a fresh keyring, sha256sum checks the bakery sums, systemd-dissect accepts the
 * sysexts. Everything is unprivileged: no loop device, no mount.
 */

import assert from 'node:assert/strict';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { execa } from 'execa';
import { findFlatcarSha512, hashFile } from '../../bake/core/checksums.ts';
import { isBakeError } from '../../bake/core/errors.ts';
import { makeFlatcarDisk } from '../support/fixtures/disk-image.ts';
import {
  type DiskLayout,
  type PartitionLayout,
  partitionBytes,
  partitionOffset,
  TYPE_GUIDS,
} from '../support/fixtures/disk-layout.ts';
import { signDetached } from '../support/fixtures/gpg.ts';
import { buildReleaseMirror, releaseFor } from '../support/fixtures/release-tree.ts';
import { fixtureRunner } from '../support/fixtures/run.ts';
import { makeSysextImage, type SysextFormat } from '../support/fixtures/sysext.ts';
import { withFlatcarDisk, withGnupgHome, withReleaseMirror, withSigningKey, withTempDir } from '../support/fixtures.ts';

const tool = async (file: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) =>
  execa(file, args, { ...options, reject: false });

const byNumber = (layout: DiskLayout, number: number): PartitionLayout =>
  layout.partitions.find((p) => p.number === number)!;

/** `blkid -p -O` probes one partition of the image in place. */
async function probe(image: string, part: PartitionLayout): Promise<Record<string, string>> {
  const { stdout } = await tool('blkid', ['-p', '-o', 'export', '-O', String(partitionOffset(part)), image]);
  return Object.fromEntries(
    stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
}

async function extractPartition(image: string, part: PartitionLayout, dest: string): Promise<string> {
  const start = partitionOffset(part);
  await pipeline(createReadStream(image, { start, end: start + partitionBytes(part) - 1 }), createWriteStream(dest));
  return dest;
}

/** Reads a btrfs partition's files with `btrfs restore`, which needs neither root nor a mount. */
async function restoreBtrfs(image: string, part: PartitionLayout, scratch: string): Promise<string> {
  const file = await extractPartition(image, part, join(scratch, `p${part.number}.img`));
  const out = join(scratch, `p${part.number}`);
  await mkdir(out);
  const result = await tool('btrfs', ['restore', '-i', file, out]);
  assert.equal(result.exitCode, 0, result.stderr);
  return out;
}

const rootDebugfs = (image: string, root: PartitionLayout, request: string) =>
  tool('debugfs', ['-R', request, `${image}?offset=${partitionOffset(root)}`]);

test("the disk has Flatcar's GPT: partitions 1-4, 6, 7, 9 with their labels, types, GUIDs and attributes", async (t) => {
  const layout = await withFlatcarDisk(t);
  const print = await tool('sgdisk', ['-p', layout.path]);
  assert.match(print.stdout, /Disk identifier \(GUID\): 00000000-0000-0000-0000-000000000001/);
  const rows = [...print.stdout.matchAll(/^\s+(\d+)\s+(\d+)\s+\d+\s+.*?\s{2}(\S+)\s*$/gm)].map((m) => [
    Number(m[1]),
    Number(m[2]),
    m[3],
  ]);
  assert.deepEqual(rows, [
    [1, 4096, 'EFI-SYSTEM'],
    [2, byNumber(layout, 2).startLba, 'BIOS-BOOT'],
    [3, byNumber(layout, 3).startLba, 'USR-A'],
    [4, byNumber(layout, 4).startLba, 'USR-B'],
    [6, byNumber(layout, 6).startLba, 'OEM'],
    [7, byNumber(layout, 7).startLba, 'OEM-CONFIG'],
    [9, byNumber(layout, 9).startLba, 'ROOT'],
  ]);
  for (const part of layout.partitions)
    assert.equal(part.startLba % 4096, 0, `partition ${part.number} is 2 MiB aligned`);
  const expectedTypes: Record<number, string> = {
    1: TYPE_GUIDS.efi,
    2: TYPE_GUIDS.bios,
    3: TYPE_GUIDS.flatcarUsr,
    4: TYPE_GUIDS.flatcarUsr,
    6: TYPE_GUIDS.linuxData,
    7: TYPE_GUIDS.flatcarReserved,
    9: TYPE_GUIDS.flatcarResize,
  };
  for (const [number, typeGuid] of Object.entries(expectedTypes)) {
    const info = (await tool('sgdisk', ['-i', number, layout.path])).stdout;
    assert.match(info, new RegExp(`Partition GUID code: ${typeGuid}`, 'i'), `type of partition ${number}`);
    assert.match(info, new RegExp(`Partition unique GUID: ${byNumber(layout, Number(number)).partGuid}`, 'i'));
  }
  const usrA = (await tool('sgdisk', ['-i', '3', layout.path])).stdout;
  assert.match(usrA, /Partition unique GUID: 7130C94A-213A-4E5A-8E26-6CCE9662F132/);
  assert.match(usrA, /Attribute flags: 0101000000000000/, 'USR-A is prioritized: priority 1, successful');
  assert.match(
    (await tool('sgdisk', ['-i', '4', layout.path])).stdout,
    /Partition unique GUID: E03DD35C-7C2D-4A47-B3FE-27F15780A57C/,
  );
  assert.match((await tool('sgdisk', ['-v', layout.path])).stdout, /No problems found/);
});

test("the disk's filesystems are vfat, btrfs and ext4 as Flatcar makes them, with the right contents, and it is sparse", async (t) => {
  const layout = await withFlatcarDisk(t, { version: '4081.3.10', board: 'arm64-usr', group: 'lts' });
  const image = layout.path;
  const esp = await probe(image, byNumber(layout, 1));
  assert.deepEqual([esp.TYPE, esp.VERSION, esp.LABEL], ['vfat', 'FAT32', 'EFI-SYSTEM']);
  const usr = await probe(image, byNumber(layout, 3));
  assert.equal(usr.TYPE, 'btrfs');
  assert.equal(usr.LABEL, undefined, 'USR-A has no filesystem label');
  assert.deepEqual(
    [(await probe(image, byNumber(layout, 6))).TYPE, (await probe(image, byNumber(layout, 6))).LABEL],
    ['btrfs', 'OEM'],
  );
  const root = await probe(image, byNumber(layout, 9));
  assert.deepEqual([root.TYPE, root.LABEL], ['ext4', 'ROOT']);
  for (const number of [2, 4, 7])
    assert.equal((await probe(image, byNumber(layout, number))).TYPE, undefined, `partition ${number} is blank`);

  const fsck = await tool('e2fsck', ['-fn', `${image}?offset=${partitionOffset(byNumber(layout, 9))}`]);
  assert.equal(fsck.exitCode, 0, fsck.stdout + fsck.stderr);
  const listing = (await rootDebugfs(image, byNumber(layout, 9), 'ls -p /')).stdout;
  const names = [...listing.matchAll(/^\/\d+\/\d+\/\d+\/\d+\/([^/]*)\//gm)]
    .map((m) => m[1])
    .filter((n) => n !== '.' && n !== '..');
  assert.deepEqual(names.sort(), ['boot', 'lost+found', 'oem', 'usr']);
  assert.match((await rootDebugfs(image, byNumber(layout, 9), 'stats')).stdout, /Inode size:\s+256/);

  const scratch = await withTempDir(t, 'fixture-usr');
  const usrFiles = await restoreBtrfs(image, byNumber(layout, 3), scratch);
  const osRelease = await readFile(join(usrFiles, 'lib/os-release'), 'utf8');
  for (const line of [
    'ID=flatcar',
    'ID_LIKE=coreos',
    'VERSION=4081.3.10',
    'VERSION_ID=4081.3.10',
    'SYSEXT_LEVEL=1.0',
    'FLATCAR_BOARD="arm64-usr"',
  ]) {
    assert.ok(osRelease.split('\n').includes(line), `os-release has ${line}`);
  }
  assert.match(osRelease, /^NAME="Flatcar Container Linux by Kinvolk"$/m);
  assert.equal(await readFile(join(usrFiles, 'share/flatcar/update.conf'), 'utf8'), 'GROUP=lts\n');

  const firstBoot = await tool('mdir', ['-b', '-i', `${image}@@${partitionOffset(byNumber(layout, 1))}`, '::/flatcar']);
  assert.match(firstBoot.stdout, /first_boot/, firstBoot.stderr);

  const { size, blocks } = await stat(image);
  assert.equal(size, layout.sizeBytes);
  assert.ok(blocks * 512 < size / 4, `sparse: ${blocks * 512} bytes allocated of ${size}`);
});

test('the disk takes trees for every partition, grows ROOT to a total size and adds incompressible data', async (t) => {
  const trees = await withTempDir(t, 'fixture-trees');
  const write = async (path: string, content: string) => {
    await mkdir(join(trees, path, '..'), { recursive: true });
    await writeFile(join(trees, path), content);
  };
  await write('esp/EFI/boot/startup.nsh', 'fs0:\n');
  await write('oem/grub.cfg', 'set oem_id="qemu"\n');
  await write('root/etc/hostname', 'fixture\n');
  await write('usr/bin/extra', 'extra\n');
  const dir = await withTempDir(t, 'fixture-disk');
  const layout = await makeFlatcarDisk(join(dir, 'disk.bin'), {
    espTree: join(trees, 'esp'),
    oemTree: join(trees, 'oem'),
    rootTree: join(trees, 'root'),
    usrTree: join(trees, 'usr'),
    totalSizeMiB: 512,
    randomDataMiB: 8,
  });
  assert.equal(layout.sizeBytes, 512 * 1024 * 1024);
  const root = byNumber(layout, 9);
  const lastUsable = Number(/last usable sector is (\d+)/.exec((await tool('sgdisk', ['-p', layout.path])).stdout)![1]);
  assert.ok(lastUsable - (root.startLba + root.sizeLba - 1) < 8, 'ROOT reaches the end of the disk');
  assert.equal((await tool('e2fsck', ['-fn', `${layout.path}?offset=${partitionOffset(root)}`])).exitCode, 0);
  assert.equal((await rootDebugfs(layout.path, root, 'cat /etc/hostname')).stdout, 'fixture'); // execa strips the final newline
  for (const mountPoint of ['/boot', '/usr', '/oem']) {
    assert.match(
      (await rootDebugfs(layout.path, root, `stat ${mountPoint}`)).stdout,
      /Type: directory/,
      `${mountPoint} added to the tree`,
    );
  }
  assert.match((await rootDebugfs(layout.path, root, 'ls -l /var/lib/fixture-random')).stdout, /4194304 .* 0\.bin/);
  assert.equal(
    (await tool('mtype', ['-i', `${layout.path}@@${partitionOffset(byNumber(layout, 1))}`, '::/EFI/boot/startup.nsh']))
      .stdout,
    'fs0:',
  );
  const scratch = await withTempDir(t, 'fixture-restore');
  assert.equal(
    await readFile(join(await restoreBtrfs(layout.path, byNumber(layout, 6), scratch), 'grub.cfg'), 'utf8'),
    'set oem_id="qemu"\n',
  );
  const usr = await restoreBtrfs(layout.path, byNumber(layout, 3), scratch);
  assert.equal(await readFile(join(usr, 'bin/extra'), 'utf8'), 'extra\n');
  assert.equal((await stat(join(usr, 'share/fixture-random/0.bin'))).size, 4 * 1024 * 1024);
});

test('an ESP too small for FAT32 is refused with a hint', async (t) => {
  const dir = await withTempDir(t, 'fixture-bad');
  await assert.rejects(makeFlatcarDisk(join(dir, 'disk.bin'), { sizes: { 'EFI-SYSTEM': 16 } }), (error) => {
    assert.ok(isBakeError(error) && error.kind === 'input' && /at least \d+ MiB/.test(error.hint ?? ''), String(error));
    return true;
  });
});

test('signatures made by the signing subkey verify against the primary key in a fresh keyring', async (t) => {
  const key = await withSigningKey(t);
  const dir = await withTempDir(t, 'fixture-gpg');
  const file = join(dir, 'payload');
  await writeFile(file, 'payload\n');
  assert.equal(await signDetached(key, file), `${file}.sig`);
  const env = { GNUPGHOME: await withGnupgHome(t) };
  assert.equal((await tool('gpg', ['--batch', '--import', key.publicKeyPath], { env })).exitCode, 0);
  const good = await tool('gpg', ['--batch', '--status-fd', '1', '--verify', `${file}.sig`, file], { env });
  assert.equal(good.exitCode, 0, good.stderr);
  // VALIDSIG <signing key fpr> ... <primary key fpr>: made by the subkey, belonging to the primary.
  assert.match(good.stdout, new RegExp(`VALIDSIG ${key.subkeyFingerprint} .* ${key.fingerprint}$`, 'm'));
  assert.notEqual(key.subkeyFingerprint, key.fingerprint);
  assert.match(good.stderr, new RegExp(`Good signature from "${key.uid.replace(/[()]/g, '\\$&')}"`));
  await writeFile(file, 'tampered\n');
  const bad = await tool('gpg', ['--batch', '--status-fd', '1', '--verify', `${file}.sig`, file], { env });
  assert.notEqual(bad.exitCode, 0);
  assert.match(bad.stdout, /BADSIG/);
});

test('sysext fixtures are extensions to systemd-dissect in every format, and a name mismatch is not', async (t) => {
  const dir = await withTempDir(t, 'fixture-sysext');
  const formats: SysextFormat[] = ['squashfs', 'erofs', 'ext4', 'btrfs'];
  for (const format of formats) {
    const image = await makeSysextImage(join(dir, format, 'hello.raw'), {
      name: 'hello',
      arch: 'x86-64',
      format,
      id: 'flatcar',
    });
    const { stdout } = await tool('systemd-dissect', [image.path]);
    assert.match(stdout, /✓ extension for system/, `${format}: ${stdout}`);
    assert.match(stdout, /ID=flatcar/);
    assert.match(stdout, /SYSEXT_LEVEL=1\.0/);
  }
  const mismatch = await makeSysextImage(join(dir, 'mismatch', 'hello.raw'), {
    name: 'hello',
    arch: 'arm64',
    extensionReleaseName: 'other',
  });
  assert.match((await tool('systemd-dissect', [mismatch.path])).stdout, /✗ extension for system/);
  const missing = await makeSysextImage(join(dir, 'missing', 'hello.raw'), {
    name: 'hello',
    arch: 'arm64',
    omitExtensionRelease: true,
  });
  assert.match((await tool('systemd-dissect', [missing.path])).stdout, /✗ extension for system/);
});

test('the release mirror serves releases.json, signed images and version.txt, the key and a bakery, in the real shapes', async (t) => {
  const { mirror, manifest, env, key } = await withReleaseMirror(t);
  const get = async (url: string) => {
    const response = await fetch(url);
    assert.equal(response.status, 200, url);
    return response;
  };
  const releases = (await (await get(env.BAKE_RELEASES_JSON)).json()) as Record<string, Record<string, unknown>>;
  const versions = Object.keys(releases).filter((k) => /^\d+\.\d+\.\d+$/.test(k));
  assert.deepEqual(new Set(Object.values(releases).map((r) => r.channel)), new Set(['alpha', 'beta', 'stable', 'lts']));
  assert.ok(versions.length >= 5);
  for (const version of versions) {
    const entry = releases[version]!;
    assert.deepEqual(Object.keys(entry).sort(), [
      'architectures',
      'channel',
      'major_software',
      'release_date',
      'release_notes',
    ]);
    assert.match(entry.release_date as string, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+0000$/);
    for (const list of Object.values(entry.major_software as Record<string, unknown>))
      assert.ok(Array.isArray(list) && list.length === 1);
  }
  assert.equal(manifest.current, '4593.2.5');
  assert.deepEqual(releases.current, releases['4593.2.5']);
  assert.deepEqual(releases['current-2024'], releases['4081.3.10']);

  const home = await withGnupgHome(t);
  const gpgEnv = { GNUPGHOME: home };
  await writeFile(join(home, 'key.asc'), Buffer.from(await (await get(env.BAKE_SIGNING_KEY)).arrayBuffer()));
  await tool('gpg', ['--batch', '--import', join(home, 'key.asc')], { env: gpgEnv });
  const release = releaseFor(manifest, 'stable', 'arm64');
  const releaseUrl = env.BAKE_RELEASE_URL.replace('{channel}', 'stable')
    .replace('{board}', 'arm64-usr')
    .replace('{version}', '4593.2.5');
  for (const name of ['flatcar_production_image.bin.bz2', 'version.txt']) {
    for (const suffix of ['', '.sig', '.DIGESTS', '.DIGESTS.sig'])
      await writeFile(
        join(home, name + suffix),
        Buffer.from(await (await get(`${releaseUrl}/${name}${suffix}`)).arrayBuffer()),
      );
    for (const signed of [name, `${name}.DIGESTS`]) {
      const verify = await tool(
        'gpg',
        ['--batch', '--status-fd', '1', '--verify', join(home, `${signed}.sig`), join(home, signed)],
        { env: gpgEnv },
      );
      assert.match(
        verify.stdout,
        new RegExp(`VALIDSIG ${key.subkeyFingerprint} .* ${manifest.signingKey.fingerprint}$`, 'm'),
        signed,
      );
    }
    const digests = await readFile(join(home, `${name}.DIGESTS`), 'utf8');
    assert.match(
      digests,
      /^# MD5 HASH\n[0-9a-f]{32} {2}\S+\n# SHA1 HASH\n[0-9a-f]{40} {2}\S+\n# SHA512 HASH\n[0-9a-f]{128} {2}\S+\n$/,
    );
    assert.equal(
      findFlatcarSha512(digests, name),
      await hashFile(join(home, name), 'sha512'),
      `${name}.DIGESTS lists its SHA-512`,
    );
  }
  assert.equal(
    await readFile(join(home, 'version.txt'), 'utf8'),
    await readFile(join(manifest.root, release.versionTxt), 'utf8'),
  );
  assert.match(
    await readFile(join(home, 'version.txt'), 'utf8'),
    /^FLATCAR_BUILD=4593\nFLATCAR_BRANCH=2\nFLATCAR_PATCH=5\nFLATCAR_VERSION=4593\.2\.5\nFLATCAR_VERSION_ID=4593\.2\.5\nFLATCAR_BUILD_ID=""\nFLATCAR_SDK_VERSION=4593\.0\.0\n$/,
  );
  const current = await (await get(`${mirror.url}/stable/amd64-usr/current/version.txt`)).text();
  assert.match(current, /^FLATCAR_VERSION=4593\.2\.5$/m);

  // The image decompresses to a disk of the promised size whose USR-A names this release and board.
  const disk = join(home, 'disk.bin');
  await fixtureRunner().run('lbzip2', ['-d', '-c', join(home, 'flatcar_production_image.bin.bz2')], {
    stdoutFile: disk,
  });
  assert.equal((await stat(disk)).size, release.diskSizeBytes);
  const usr = await restoreBtrfs(disk, byNumber({ partitions: release.partitions } as DiskLayout, 3), home);
  const osRelease = await readFile(join(usr, 'lib/os-release'), 'utf8');
  assert.match(osRelease, /^VERSION_ID=4593\.2\.5$/m);
  assert.match(osRelease, /^FLATCAR_BOARD="arm64-usr"$/m);

  const conf = await (await get(`${env.BAKE_BAKERY_URL}/hello.conf`)).text();
  assert.match(conf, new RegExp(`^Path=${env.BAKE_BAKERY_URL}/hello/$`, 'm'));
  assert.match(conf, /^MatchPattern=hello-@v-%a\.raw$/m);
  assert.match(conf, /^CurrentSymlink=\/etc\/extensions\/hello\.raw$/m);
  assert.equal(
    (await get(`${env.BAKE_BAKERY_URL}/hello/hello-1.1.0-x86-64.raw`)).headers.get('content-length'),
    '4096',
  );
  for (const dir of ['extensions/hello', 'extensions/tool', 'extensions']) {
    const check = await tool('sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: join(manifest.root, dir) });
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
  }
  assert.match(
    await readFile(join(manifest.root, 'extensions/SHA256SUMS'), 'utf8'),
    /^[0-9a-f]{64} {2}tool-v2\.3\.1-x86-64\.raw$/m,
  );
  // Installed under its extension name (what sysupdate's CurrentSymlink does), a bakery image is an extension.
  const sysext = manifest.bakery.sysexts.find(
    (s) => s.name === 'hello' && s.version === '1.1.0' && s.arch === 'x86-64',
  )!;
  await copyFile(join(manifest.root, sysext.file), join(home, 'hello.raw'));
  const dissect = await tool('systemd-dissect', [join(home, 'hello.raw')]);
  assert.match(dissect.stdout, /ID=_any/);
  assert.match(dissect.stdout, /✓ extension for system/);
});

test('releases with equal disk options share one image build, and a version listed twice is refused', async (t) => {
  const key = await withSigningKey(t);
  const dir = await withTempDir(t, 'fixture-shared');
  const pinned = { version: '4593.2.5', group: 'stable' };
  const manifest = await buildReleaseMirror(join(dir, 'www'), {
    key,
    releases: [
      { version: '4593.2.5', channel: 'stable', arches: ['amd64'] },
      { version: '4593.2.4', channel: 'stable', arches: ['amd64'], disk: pinned },
      { version: '4628.1.0', channel: 'beta', arches: ['amd64'], disk: pinned },
      { version: '4459.2.4', channel: 'stable', arches: ['amd64'] },
    ],
    bakery: [],
  });
  const [current, older, beta, oldest] = manifest.releases;
  assert.equal(older!.imageSha256, current!.imageSha256, "the pinned disk equals 4593.2.5's own: one build, copied");
  assert.equal(beta!.imageSha256, current!.imageSha256);
  assert.notEqual(oldest!.imageSha256, current!.imageSha256, 'another version, another build');
  const sums = await tool('sha256sum', [current!.image, older!.image, beta!.image], { cwd: manifest.root });
  assert.equal(new Set(sums.stdout.split('\n').map((line) => line.split(' ')[0])).size, 1, sums.stdout);
  assert.deepEqual(manifest.latest, { stable: '4593.2.5', beta: '4628.1.0' });
  assert.equal(releaseFor(manifest, 'beta').dir, 'beta/amd64-usr/4628.1.0');
  assert.throws(() => releaseFor(manifest, 'stable', 'arm64'), /no arm64 release stable/);

  await assert.rejects(
    buildReleaseMirror(join(dir, 'twice'), {
      key,
      releases: [
        { version: '4593.2.5', channel: 'stable' },
        { version: '4593.2.5', channel: 'beta' },
      ],
    }),
    /listed twice/,
  );
});
