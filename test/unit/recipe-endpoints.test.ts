/**
 * Recipes declare their own upstreams: the engine's endpoint table names none of them, every one has a
 * flag and a variable of its own, and a recipe cannot reach an upstream it does not declare.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createContext } from '../../bake/context.ts';
import { ENDPOINTS, endpointValue, type RecipeEndpoint } from '../../bake/core/endpoints.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { getRecipe, recipeEndpoints, recipeNames } from '../../bake/sysext/catalog.ts';
import { createBuildApi } from '../../bake/sysext/runner.ts';

const camelCaseOf = (flag: string) =>
  flag.replace(/^--/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

test('the recipes declare the upstreams only they use, each with its flag, variable and real default', () => {
  const byFlag = new Map(recipeEndpoints().map((endpoint) => [endpoint.flag, endpoint]));
  assert.deepEqual([...byFlag.keys()].sort(), [
    '--crio-download-url',
    '--docker-download-url',
    '--falco-download-url',
    '--github-raw-url',
    '--gitlab-nic-url',
    '--haproxy-url',
    '--hashicorp-api-url',
    '--hashicorp-download-url',
    '--hashicorp-key',
    '--k8s-download-url',
    '--k8s-schedule-url',
    '--tailscale-download-url',
  ]);
  assert.equal(byFlag.get('--k8s-download-url')?.default, 'https://dl.k8s.io');
  assert.equal(byFlag.get('--hashicorp-key')?.env, 'BAKE_HASHICORP_KEY');
  const engineFlags = new Set(Object.values(ENDPOINTS).map((spec) => spec.flag));
  const engineNames = new Set(Object.keys(ENDPOINTS));
  for (const endpoint of recipeEndpoints()) {
    assert.ok(!engineFlags.has(endpoint.flag) && !engineNames.has(endpoint.name), `${endpoint.flag} is the engine's`);
    assert.equal(endpoint.name, camelCaseOf(endpoint.flag), 'the name is the flag in camelCase');
    assert.equal(endpoint.env, `BAKE_${endpoint.flag.slice(2).toUpperCase().replaceAll('-', '_')}`);
  }
  assert.equal(new Set(recipeEndpoints().map((endpoint) => endpoint.env)).size, recipeEndpoints().length);
});

test("a recipe's version source uses only an engine endpoint or one the recipe declares", () => {
  for (const name of recipeNames()) {
    const recipe = getRecipe(name);
    const endpoint = 'endpoint' in recipe.versions ? recipe.versions.endpoint : undefined;
    if (typeof endpoint === 'object') assert.ok(recipe.endpoints?.includes(endpoint), `${name}: ${endpoint.flag}`);
  }
});

test('a recipe endpoint resolves to the value given, else its variable, else its default', () => {
  const k8s = getRecipe('kubernetes').endpoints!.find((endpoint) => endpoint.name === 'k8sDownloadUrl')!;
  const endpoints = createContext({ log: memoryLogger(), endpoints: {} }).endpoints;
  assert.equal(endpointValue(endpoints, k8s, {}), 'https://dl.k8s.io');
  assert.equal(
    endpointValue(endpoints, k8s, { BAKE_K8S_DOWNLOAD_URL: 'http://127.0.0.1:9/k8s' }),
    'http://127.0.0.1:9/k8s',
  );
  const given = createContext({ log: memoryLogger(), endpoints: { k8sDownloadUrl: 'http://127.0.0.1:9/given' } });
  assert.equal(endpointValue(given.endpoints, k8s, { BAKE_K8S_DOWNLOAD_URL: 'x' }), 'http://127.0.0.1:9/given');
});

test('api.url refuses an upstream the recipe does not declare: no flag could point it at a mirror', () => {
  const ctx = createContext({ log: memoryLogger(), endpoints: { k8sDownloadUrl: 'http://127.0.0.1:9/k8s' } });
  const setup = {
    version: 'v1.31.4',
    arch: 'x86-64',
    options: {},
    root: '/nonexistent',
    scratch: '/nonexistent',
  } as const;
  const kubernetes = getRecipe('kubernetes');
  const k8s = kubernetes.endpoints!.find((endpoint) => endpoint.name === 'k8sDownloadUrl')!;
  assert.equal(
    createBuildApi(ctx, { ...setup, recipe: kubernetes }).url(k8s, 'v1/kubelet'),
    'http://127.0.0.1:9/k8s/v1/kubelet',
  );
  const undeclared: RecipeEndpoint = { ...k8s };
  assert.throws(
    () => createBuildApi(ctx, { ...setup, recipe: kubernetes }).url(undeclared, 'v1/kubelet'),
    /without declaring/,
  );
  assert.throws(
    () => createBuildApi(ctx, { ...setup, recipe: getRecipe('docker') }).url(k8s, 'x'),
    /without declaring/,
  );
});
