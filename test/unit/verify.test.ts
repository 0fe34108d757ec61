import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findFlatcarSha512 } from '../../bake/core/checksums.ts';
import { parseGpgStatus } from '../../bake/flatcar/verify.ts';

const primary = 'F88CFEDEFF29A5B4D9523864E25D9AED0593B34A';
const subkey = '4FA8DB4F8D1C3F5B4A1A0C7B32DA80F91EF52974';
const validsig = `[GNUPG:] VALIDSIG ${subkey} 2025-03-08 1741400000 0 4 0 1 10 00 ${primary}`;

test('a good signature needs GOODSIG and VALIDSIG, and reports the primary key', () => {
  const result = parseGpgStatus(
    `[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG 32DA80F91EF52974 Flatcar Buildbot\n${validsig}\n[GNUPG:] TRUST_UNDEFINED 0 pgp`,
  );
  assert.equal(result.good, true);
  assert.deepEqual(result.validsig, { signingFingerprint: subkey, primaryFingerprint: primary });
});

test('a signature by a since-expired rotated subkey is still good', () => {
  assert.equal(parseGpgStatus(`[GNUPG:] EXPKEYSIG 85F7C8868837E271 Flatcar Buildbot\n${validsig}`).good, true);
});

test('bad, unknown-key, revoked and non-signatures fail closed', () => {
  assert.equal(parseGpgStatus('[GNUPG:] BADSIG 32DA80F91EF52974 Flatcar Buildbot').good, false);
  assert.equal(
    parseGpgStatus('[GNUPG:] ERRSIG 1234 1 10 00 1741400000 9 -\n[GNUPG:] NO_PUBKEY 1234').problem,
    'ERRSIG',
  );
  assert.equal(parseGpgStatus(`[GNUPG:] REVKEYSIG 32DA Flatcar\n${validsig}`).good, false);
  assert.equal(parseGpgStatus('[GNUPG:] NODATA 1').good, false);
  assert.equal(parseGpgStatus('[GNUPG:] GOODSIG 32DA Flatcar').good, false, 'GOODSIG without VALIDSIG');
  assert.equal(parseGpgStatus('').good, false);
});

test('the SHA-512 of a Flatcar DIGESTS is taken from its SHA512 section, for the file named', () => {
  const [md5, sha1, sha512, other] = ['a'.repeat(32), 'b'.repeat(40), 'C'.repeat(128), 'd'.repeat(128)];
  const digests = `# MD5 HASH\n${md5}  image.bz2\n# SHA1 HASH\n${sha1}  image.bz2\n# SHA512 HASH\n${other}  other.bz2\n${sha512}  image.bz2\n`;
  assert.equal(findFlatcarSha512(digests, 'image.bz2'), 'c'.repeat(128));
  assert.equal(findFlatcarSha512(digests, 'missing.bz2'), undefined);
  // A 128-digit hash outside the SHA512 section (here a BLAKE2B one) does not count.
  assert.equal(findFlatcarSha512(`# BLAKE2B HASH\n${other}  image.bz2\n`, 'image.bz2'), undefined);
});

test('a DIGESTS must list the file exactly once and by exactly its name', () => {
  const [good, rival] = ['c'.repeat(128), 'd'.repeat(128)];
  const list = (...lines: string[]) => `# SHA512 HASH\n${lines.join('\n')}\n`;
  assert.equal(findFlatcarSha512(list(`${good}  image.bz2`), 'image.bz2'), good);
  assert.equal(findFlatcarSha512(list(`${good} *image.bz2`), 'image.bz2'), good, 'binary mode');
  assert.equal(
    findFlatcarSha512(list(`${good}  image.bz2`, `${rival}  image.bz2`), 'image.bz2'),
    undefined,
    'two entries',
  );
  assert.equal(
    findFlatcarSha512(list(`${good}  image.bz2`, `${good}  image.bz2`), 'image.bz2'),
    undefined,
    'twice, even alike',
  );
  assert.equal(findFlatcarSha512(list(`${good}  ../image.bz2`), 'image.bz2'), undefined, 'a path that climbs out');
  assert.equal(findFlatcarSha512(list(`${good}  sub/image.bz2`), 'image.bz2'), undefined, 'a path');
  assert.equal(
    findFlatcarSha512(list(`${rival}  ../image.bz2`, `${good}  image.bz2`), 'image.bz2'),
    undefined,
    'a rival by path',
  );
});
