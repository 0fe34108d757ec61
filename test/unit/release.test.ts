import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BakeError } from '../../bake/core/errors.ts';
import { parseKeyValueFile } from '../../bake/core/key-value.ts';
import { parseReleaseRequest, pickRelease, type ReleasesJson, releaseBaseUrl } from '../../bake/flatcar/release.ts';

const releases: ReleasesJson = {
  '4593.2.5': { channel: 'stable', architectures: ['amd64', 'arm64'] },
  '4593.2.10': { channel: 'stable', architectures: ['amd64'] },
  '4459.2.4': { channel: 'stable', architectures: ['amd64', 'arm64'] },
  '4757.1.0': { channel: 'beta', architectures: ['amd64', 'arm64'] },
  '4790.0.0': { channel: 'alpha', architectures: ['amd64', 'arm64'] },
  '4081.3.10': { channel: 'lts', architectures: ['amd64', 'arm64'] },
  '2466.99.0': { channel: 'edge', architectures: ['amd64'] },
  current: { channel: 'stable', architectures: ['amd64', 'arm64'] },
};

test('a channel resolves to its newest version by version order, not string order', () => {
  assert.deepEqual(pickRelease(releases, { channel: 'stable' }, 'x86-64'), { version: '4593.2.10', channel: 'stable' });
});

test('a channel resolves to the newest version that has the arch', () => {
  assert.deepEqual(pickRelease(releases, { channel: 'stable' }, 'arm64'), { version: '4593.2.5', channel: 'stable' });
});

test('the "current" keys are not versions', () => {
  const onlyCurrent: ReleasesJson = { current: { channel: 'stable' } };
  assert.throws(() => pickRelease(onlyCurrent, { channel: 'stable' }, 'x86-64'), /no stable release/);
});

test('an exact version takes its channel from releases.json', () => {
  // 4081.3.10 has minor 3 → lts either way; the edge release proves the json wins over the digit.
  assert.deepEqual(pickRelease(releases, { version: '4081.3.10' }, 'x86-64'), { version: '4081.3.10', channel: 'lts' });
  const odd: ReleasesJson = { '2605.12.0': { channel: 'stable' } };
  assert.deepEqual(pickRelease(odd, { version: '2605.12.0' }, 'x86-64'), { version: '2605.12.0', channel: 'stable' });
});

test('an exact version absent from releases.json takes its channel from the minor digit', () => {
  assert.equal(pickRelease({}, { version: '9999.0.0' }, 'x86-64').channel, 'alpha');
  assert.equal(pickRelease({}, { version: '9999.1.0' }, 'x86-64').channel, 'beta');
  assert.equal(pickRelease({}, { version: '9999.2.1' }, 'x86-64').channel, 'stable');
  assert.equal(pickRelease({}, { version: '9999.3.0' }, 'x86-64').channel, 'lts');
  assert.throws(() => pickRelease({}, { version: '9999.7.0' }, 'x86-64'), /names no channel/);
});

test('a version without the arch, or on a channel bake cannot fetch, is refused', () => {
  assert.throws(() => pickRelease(releases, { version: '4593.2.10' }, 'arm64'), /no arm64 build/);
  assert.throws(() => pickRelease(releases, { version: '2466.99.0' }, 'x86-64'), /channel 'edge'/);
});

test('release arguments: channels, versions, and clear errors for anything else', () => {
  assert.deepEqual(parseReleaseRequest('lts'), { channel: 'lts' });
  assert.deepEqual(parseReleaseRequest('4593.2.5'), { version: '4593.2.5' });
  for (const bad of ['edge', 'Stable', '4593.2', '4593.2.5.1', 'v4593.2.5', '']) {
    assert.throws(
      () => parseReleaseRequest(bad),
      (error: unknown) => error instanceof BakeError && error.kind === 'usage',
      bad,
    );
  }
});

test('the release URL template fills channel, board and version', () => {
  assert.equal(
    releaseBaseUrl('https://{channel}.release.flatcar-linux.net/{board}/{version}', {
      channel: 'beta',
      board: 'arm64-usr',
      version: '4757.1.0',
    }),
    'https://beta.release.flatcar-linux.net/arm64-usr/4757.1.0',
  );
});

test('version.txt is parsed with quotes removed', () => {
  const values = parseKeyValueFile(
    'FLATCAR_BUILD=4593\nFLATCAR_VERSION=4593.2.5\nFLATCAR_BUILD_ID=""\nFLATCAR_SDK_VERSION=4593.0.0\n',
  );
  assert.equal(values.FLATCAR_VERSION, '4593.2.5');
  assert.equal(values.FLATCAR_BUILD_ID, '');
  assert.equal(values.FLATCAR_SDK_VERSION, '4593.0.0');
});
