/**
 * The trust rule for flatcar/scripts files bake runs: pinned or user-named digests (the launcher's SHA-256,
 * the tarball's git tree), plain HTTP refused, --insecure-scripts for what nothing vouches for, a named
 * digest always enforced.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveEndpoints } from '../../bake/core/endpoints.ts';
import { type ErrorKind, isBakeError } from '../../bake/core/errors.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { parseBakeRequest } from '../../bake/pipeline/plan.ts';
import {
  expectedDigests,
  judgeDigest,
  requireSecureSource,
  type ScriptsTrust,
} from '../../bake/vendor/scripts-trust.ts';
import { vendorPlans } from '../../bake/vendor/several.ts';
import { QEMU_TEMPLATE_SHA256, SCRIPTS_TAG_TREES } from '../../vendors/scripts-pins.ts';

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
  const release = {
    version: '4790.0.0',
    channel: 'alpha' as const,
    arch: 'x86-64' as const,
    board: 'amd64-usr',
    baseUrl: 'https://alpha.example.invalid/4790.0.0',
  };
  const fetchStep = (scripts?: ScriptsTrust, version = release.version) =>
    vendorPlans(
      {
        vendors: ['azure'],
        route: 'sdk',
        release: { ...release, version },
        outputDir: '/out',
        ...(scripts ? { scripts } : {}),
      },
      resolveEndpoints({}, {}),
    )[0]!.steps[0] ?? '';
  assert.match(fetchStep(), /alpha-4790\.0\.0, holding git tree 35eff7820d2f0bd7f2c08691508e5d288657c41a \(pinned\)$/);
  assert.match(
    fetchStep(undefined, '9999.0.0'),
    /alpha-9999\.0\.0, no pinned git tree: refused without --scripts-sha256 or --insecure-scripts$/,
  );
  assert.match(fetchStep({ sha256: OTHER, insecure: false }), new RegExp(`sha256 ${OTHER} \\(--scripts-sha256\\)$`));
  assert.match(fetchStep({ insecure: true }, '9999.0.0'), /unverified \(--insecure-scripts\)$/);
});

test('every release tag from 4081 on is pinned by its git tree, the current ones included', () => {
  for (const [tag, tree] of Object.entries(SCRIPTS_TAG_TREES)) {
    assert.match(tag, /^(alpha|beta|stable|lts)-(\d+)\.\d+\.\d+$/);
    assert.ok(Number(tag.split('-')[1]!.split('.')[0]) >= 4081, tag);
    assert.match(tree, /^[0-9a-f]{40}$/, tag);
  }
  // The newest release of each channel in docs/flatcar-facts.md's sources, read with `git rev-parse <tag>^{tree}`.
  assert.equal(SCRIPTS_TAG_TREES['stable-4593.2.5'], 'b25d80a1d25ee6239468b6fff87b9f2ef275cbfe');
  for (const tag of ['alpha-4790.0.0', 'beta-4757.1.0', 'lts-4081.3.10']) assert.ok(SCRIPTS_TAG_TREES[tag], tag);
});

test('a tree pin: a pinned one yields to --insecure-scripts with a warning, a named one always holds', () => {
  const log = memoryLogger();
  const pinned = SCRIPTS_TAG_TREES['stable-4593.2.5']!;
  const other = 'b'.repeat(40);
  assert.equal(judgeDigest('t', pinned, [pinned], { insecure: false }, log, 'git tree'), 'verified');
  assert.throws(() => judgeDigest('t', other, [pinned], { insecure: false }, log, 'git tree'), isKind('verify'));
  assert.equal(judgeDigest('t', other, [pinned], { insecure: true }, log, 'git tree'), 'unchecked');
  assert.match(log.lines.join('\n'), /unverified \(git tree b{40}\)/);
  assert.throws(
    () => judgeDigest('t', other, [pinned], { tree: pinned, insecure: true }, log, 'git tree'),
    isKind('verify'),
  );
});
