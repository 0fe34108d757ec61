/**
 * The GitHub API pager against a real local server that pages like GitHub (`per_page`/`page`) and
 * records headers: every page is read, and GH_TOKEN goes to the API host only.
 */

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createContext } from '../../bake/context.ts';
import { BakeError } from '../../bake/core/errors.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { fetchSourceVersions } from '../../bake/sysext/version-sources.ts';

test('GitHub releases are read page by page until a short page, with the token sent when GH_TOKEN is set', async () => {
  const seen: Array<{ page: string | null; authorization?: string }> = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const page = Number(url.searchParams.get('page'));
    seen.push({
      page: url.searchParams.get('page'),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    const count = page === 1 ? 100 : page === 2 ? 3 : 0;
    const body = Array.from({ length: count }, (_, i) => ({
      tag_name: `v1.${page}.${i}`,
      prerelease: i === 0,
      draft: false,
    }));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const previous = process.env.GH_TOKEN;
  process.env.GH_TOKEN = 'test-token';
  try {
    const { port } = server.address() as AddressInfo;
    const ctx = createContext({ log: memoryLogger(), endpoints: { githubApiUrl: `http://127.0.0.1:${port}` } });
    const versions = await fetchSourceVersions(ctx, { kind: 'github-releases', repo: 'o/r' });
    assert.equal(versions.length, 99 + 2);
    assert.ok(!versions.includes('v1.1.0') && !versions.includes('v1.2.0'));
    assert.deepEqual(
      seen.map((s) => s.page),
      ['1', '2'],
    );
    assert.ok(seen.every((s) => s.authorization === 'Bearer test-token'));
  } finally {
    if (previous === undefined) delete process.env.GH_TOKEN;
    else process.env.GH_TOKEN = previous;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('the GitHub client made for GH_TOKEN keeps the BAKE_HTTP_* tuning (here: no retries)', async () => {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests += 1;
    res.writeHead(503).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const saved = { GH_TOKEN: process.env.GH_TOKEN, BAKE_HTTP_RETRIES: process.env.BAKE_HTTP_RETRIES };
  Object.assign(process.env, { GH_TOKEN: 'test-token', BAKE_HTTP_RETRIES: '0' });
  try {
    const { port } = server.address() as AddressInfo;
    const ctx = createContext({ log: memoryLogger(), endpoints: { githubApiUrl: `http://127.0.0.1:${port}` } });
    await assert.rejects(fetchSourceVersions(ctx, { kind: 'github-releases', repo: 'o/r' }), BakeError);
    assert.equal(requests, 1, 'one request, as BAKE_HTTP_RETRIES=0 asks, not the default five retries');
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
