/** Version-list parsers on recorded upstream responses, version ordering and the "latest set". */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { compareVersions } from '../../bake/core/version-order.ts';
import { getRecipe } from '../../bake/sysext/catalog.ts';
import {
  parseGithubReleases,
  parseHashicorpReleases,
  parseHtmlListing,
  parseKubernetesSchedule,
  parseTagNames,
} from '../../bake/sysext/version-sources.ts';
import { pickLatest, selectVersions } from '../../bake/sysext/versions.ts';

const recorded = (name: string) => readFileSync(new URL(`../fixtures/recorded/${name}`, import.meta.url), 'utf8');
const json = (name: string): unknown => JSON.parse(recorded(name));

test('GitHub releases: prereleases and drafts are skipped', () => {
  assert.deepEqual(parseGithubReleases(json('github-releases-k3s.json')), [
    'v1.31.4+k3s1',
    'v1.30.8+k3s1',
    'v1.31.3+k3s1',
  ]);
});

test('k3s versions come out newest first, and its latest set is the newest patch per minor', () => {
  const versions = selectVersions(getRecipe('k3s').versions, parseGithubReleases(json('github-releases-k3s.json')));
  assert.deepEqual(versions, ['v1.31.4+k3s1', 'v1.31.3+k3s1', 'v1.30.8+k3s1']);
  assert.deepEqual(pickLatest(versions, getRecipe('k3s').latest!), ['v1.31.4+k3s1', 'v1.30.8+k3s1']);
});

test('GitHub tags: the recipe pattern drops non-release tags; v2.3.10 sorts above v2.3.2', () => {
  const versions = selectVersions(getRecipe('keepalived').versions, parseTagNames(json('github-tags-keepalived.json')));
  assert.deepEqual(versions, ['v2.3.10', 'v2.3.2', 'v2.2.8']);
});

test('GitLab tags are names: chrony versions come out newest first, pre-releases filtered', () => {
  assert.deepEqual(selectVersions(getRecipe('chrony').versions, parseTagNames(json('gitlab-tags-chrony.json'))), [
    '4.6.1',
    '4.6',
  ]);
});

test('docker: the HTML listing yields release tarballs only (no rootless extras, no rc)', () => {
  const recipe = getRecipe('docker');
  assert.equal(recipe.versions.kind, 'html-listing');
  if (recipe.versions.kind !== 'html-listing') return;
  const versions = selectVersions(
    recipe.versions,
    parseHtmlListing(recorded('docker-static-stable-x86_64.html'), recipe.versions.pattern),
  );
  assert.deepEqual(versions, ['27.10.0', '27.3.1', '26.1.4']);
});

test('HashiCorp API: open-source, non-prerelease versions only', () => {
  assert.deepEqual(parseHashicorpReleases(json('hashicorp-releases-consul.json')), ['1.20.2', '1.19.3']);
});

test('Kubernetes schedule: released patches with a v prefix; latest = newest patch of each supported minor', () => {
  const versions = selectVersions(
    getRecipe('kubernetes').versions,
    parseKubernetesSchedule(recorded('kubernetes-schedule.yaml')),
  );
  assert.deepEqual(versions, ['v1.32.1', 'v1.32.0', 'v1.31.5', 'v1.31.4', 'v1.30.9']);
  assert.deepEqual(pickLatest(versions, getRecipe('kubernetes').latest!), ['v1.32.1', 'v1.31.5', 'v1.30.9']);
});

test('malformed responses are input errors naming what was expected', () => {
  assert.throws(
    () => parseGithubReleases({ message: 'API rate limit exceeded' }),
    /unexpected GitHub releases response/,
  );
  assert.throws(() => parseKubernetesSchedule('foo: bar\n'), /no `schedules` list/);
});

test('compareVersions orders like sort -V', () => {
  const sorted = ['v1.9.0', 'v1.10.0', 'v1.10.0+k3s2', 'v1.10.0+k3s10', '1.2'].sort(compareVersions);
  assert.deepEqual(sorted, ['1.2', 'v1.9.0', 'v1.10.0', 'v1.10.0+k3s2', 'v1.10.0+k3s10']);
  assert.ok(compareVersions('v0.14.0', 'v0.5.4') > 0);
  assert.equal(compareVersions('v1.2.3', '1.2.3'), 0);
});

test('stripV drops the v the tag carries (docker-compose releases are named 2.x)', () => {
  assert.deepEqual(selectVersions(getRecipe('docker-compose').versions, ['v2.30.3', 'v2.29.7', 'v1.29.2']), [
    '2.30.3',
    '2.29.7',
  ]);
});
