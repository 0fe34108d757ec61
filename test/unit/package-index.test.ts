/** Alpine and Debian package indexes, the dependency closure of a wrapped package, and .deb members. */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { BakeError } from '../../bake/core/errors.ts';
import { debDataMember } from '../../bake/sysext/deb-package.ts';
import { parseReleaseSha256 } from '../../bake/sysext/deb-release.ts';
import { dependencyClosure, parseApkIndex, parseDebPackages } from '../../bake/sysext/package-index.ts';
import { arArchive } from '../support/fixtures/upstream-recipes-b.ts';

const recorded = (name: string) => readFileSync(new URL(`../fixtures/recorded/${name}`, import.meta.url), 'utf8');
const kind = (expected: string) => (error: unknown) => error instanceof BakeError && error.kind === expected;

test('Debian Packages: versions, first alternatives without constraints, provides, SHA256 and pool path', () => {
  const index = parseDebPackages(recorded('debian-bookworm-packages.txt'));
  const tilde = index.get('tilde')!;
  assert.equal(tilde.version, '1.1.2-1');
  assert.equal(tilde.file, 'pool/main/t/tilde/tilde_1.1.2-1_amd64.deb');
  assert.deepEqual(tilde.depends.slice(0, 3), ['libc6', 'libgcc-s1', 'libstdc++6']);
  assert.deepEqual(tilde.check, { sha256: 'fac2112c45c409514c21b5542d2b330957794cfbddbaea6afefb9b606f5c7fb8' });
  assert.deepEqual(index.get('libgcc-s1')!.provides, ['libgcc1']);
});

test('APKINDEX: so: dependencies resolve through what packages provide, and C: becomes a SHA-1', () => {
  const index = parseApkIndex(recorded('alpine-apkindex-excerpt.txt'));
  assert.equal(index.get('btop')!.file, 'btop-1.4.0-r0.apk');
  assert.deepEqual(index.get('btop')!.check, {
    apkControlSha1: Buffer.from('pLxy3tJFqZ4RWH3XC1dbmG2S6xc=', 'base64').toString('hex'),
  });
  const closure = dependencyClosure(index, ['btop']).map((p) => p.name);
  assert.deepEqual(closure, ['btop', 'musl', 'libgcc', 'libstdc++']);
});

test('a dependency nothing provides is an input error naming it; skipped names are left out', () => {
  const index = parseDebPackages(recorded('debian-bookworm-packages.txt'));
  assert.throws(
    () => dependencyClosure(index, ['tilde']),
    (error: unknown) => kind('input')(error) && /'libc6'/.test((error as Error).message),
  );
  const apk = parseApkIndex(recorded('alpine-apkindex-excerpt.txt'));
  assert.deepEqual(
    dependencyClosure(apk, ['btop'], ['libstdc++']).map((p) => p.name),
    ['btop', 'musl', 'libgcc'],
  );
});

test('APKINDEX conflicts (!name) are not dependencies', () => {
  const index = parseApkIndex(
    'C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:a\nV:1-r0\nD:!b c>=2\n\nC:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:c\nV:2-r0\n',
  );
  assert.deepEqual(index.get('a')!.depends, ['c']);
  assert.deepEqual(
    dependencyClosure(index, ['a']).map((p) => p.name),
    ['a', 'c'],
  );
});

test('an index naming a package file outside the repository is refused', () => {
  const hostile = `Package: evil\nVersion: 1\nFilename: ../../../etc/passwd\nSHA256: ${'a'.repeat(64)}\n`;
  assert.throws(() => parseDebPackages(hostile), kind('input'));
  assert.throws(() => parseDebPackages(hostile.replace('../../../etc/passwd', '/etc/passwd')), kind('input'));
  assert.throws(() => parseApkIndex('C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:../../x\nV:1\n'), kind('input'));
});

test('.deb: the data member and its compression are found behind debian-binary and control', () => {
  const deb = arArchive({
    'debian-binary': Buffer.from('2.0\n'),
    'control.tar.xz': Buffer.from('ctl'),
    'data.tar.zst': Buffer.from('payload'),
  });
  const member = debDataMember(deb, 'x');
  assert.equal(member.suffix, 'tar.zst');
  assert.equal(member.data.toString(), 'payload');
  assert.throws(() => debDataMember(deb.subarray(0, deb.length - 3), 'x'), kind('input'));
  assert.throws(() => debDataMember(Buffer.from('not an archive'), 'x'), kind('input'));
});

test('Debian Release: the SHA256 section maps each index path to its hash, other sections ignored', () => {
  const hashes = parseReleaseSha256(recorded('debian-bookworm-release-excerpt.txt'));
  assert.equal(
    hashes.get('main/binary-amd64/Packages.gz'),
    '6777ea16514725f9427f48c240d92e0a6b8496138e37a1491d8597e66774e309',
  );
  assert.equal(
    hashes.get('main/binary-arm64/Packages.gz'),
    'aee1ed47a695b38ecc6283e3952e8c3e18682cf7b2558ec62460a95c6d0b193b',
  );
  assert.equal(hashes.size, 7);
  assert.equal(parseReleaseSha256(`MD5Sum:\n ${'a'.repeat(64)} 1 main/binary-amd64/Packages.gz\n`).size, 0);
});
