/**
 * The trust rule for flatcar/scripts files bake runs: pinned or user-named digests, plain HTTP refused,
 * --insecure-scripts for what nothing vouches for, a named digest always enforced.
 */
import { resolveEndpoints } from '../../bake/core/endpoints.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBakeError, type ErrorKind } from '../../bake/core/errors.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { parseBakeRequest } from '../../bake/pipeline/plan.ts';
import { vendorPlan } from '../../bake/vendor/index.ts';
import { expectedDigests, judgeDigest, requireSecureSource, type ScriptsTrust } from '../../bake/vendor/scripts-trust.ts';
import { QEMU_TEMPLATE_SHA256 } from '../../vendors/scripts-pins.ts';

const STABLE_4593_TEMPLATE = '9625bc60a188fe412470feb7a849f113a5c0f2d9507e3d7722c44ba714fae287';
const OTHER = 'a'.repeat(64);
const isKind = (kind: ErrorKind) => (error: unknown) => isBakeError(error) && error.kind === kind;

test('a launcher some release shipped is verified; another one is refused unless --insecure-scripts', () => {
  const log = memoryLogger();
  const pinned = expectedDigests({ insecure: false }, QEMU_TEMPLATE_SHA256);
  assert.equal(judgeDigest('t', STABLE_4593_TEMPLATE, pinned, { insecure: false }, log), 'verified');
  assert.throws(() => judgeDigest('t', OTHER, pinned, { insecure: false }, log), isKind('verify'));
  assert.equal(judgeDigest('t', OTHER, pinned, { insecure: true }, log), 'unchecked');
  assert.match(log.lines.join('\n'), /unverified/);
});

test('a digest the user names replaces the pins and holds even with --insecure-scripts', () => {
  const trust = { sha256: OTHER, insecure: true };
  const expected = expectedDigests(trust, QEMU_TEMPLATE_SHA256);
  assert.deepEqual(expected, [OTHER]);
  assert.equal(judgeDigest('t', OTHER, expected, trust, memoryLogger()), 'verified');
  assert.throws(() => judgeDigest('t', STABLE_4593_TEMPLATE, expected, trust, memoryLogger()), isKind('verify'));
});

test('plain HTTP is refused for executed files unless --insecure-scripts; https and local mirrors are not', () => {
  assert.throws(() => requireSecureSource('http://mirror/x.tar.gz', 'x', { insecure: false }), isKind('usage'));
  requireSecureSource('http://mirror/x.tar.gz', 'x', { insecure: true });
  requireSecureSource('https://mirror/x.tar.gz', 'x', { insecure: false });
  requireSecureSource('file:///srv/x.tar.gz', 'x', { insecure: false });
});

test('bake flags: --scripts-sha256 must be a SHA-256, --insecure-scripts is carried to the vendor job', () => {
  assert.throws(() => parseBakeRequest(['a:a.raw'], { scriptsSha256: 'abc' }), isKind('usage'));
  const request = parseBakeRequest(['a:a.raw'], { scriptsSha256: OTHER.toUpperCase(), insecureScripts: true });
  assert.deepEqual(request.vendorOptions.scripts, { sha256: OTHER, insecure: true });
  assert.deepEqual(parseBakeRequest(['a:a.raw'], {}).vendorOptions.scripts, { insecure: false });
});

test('the SDK plan says what the scripts tarball must match', () => {
  const release = { version: '4790.0.0', channel: 'alpha' as const, arch: 'x86-64' as const, board: 'amd64-usr', baseUrl: 'https://alpha.example.invalid/4790.0.0' };
  const fetchStep = (scripts?: ScriptsTrust) => vendorPlan({ vendor: 'azure', route: 'sdk', release, outputDir: '/out', ...(scripts ? { scripts } : {}) }, resolveEndpoints({}, {})).steps[0];
  assert.match(fetchStep() ?? '', /alpha-4790\.0\.0, no pinned sha256: refused without --scripts-sha256 or --insecure-scripts$/);
  assert.match(fetchStep({ sha256: OTHER, insecure: false }) ?? '', new RegExp(`sha256 ${OTHER} \\(--scripts-sha256\\)$`));
  assert.match(fetchStep({ insecure: true }) ?? '', /unverified \(--insecure-scripts\)$/);
});
