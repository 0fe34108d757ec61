/** The recipe BuildApi's concurrently(): steps overlap, and a failure is reported only once every step is done. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createContext } from '../../bake/context.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { getRecipe } from '../../bake/sysext/catalog.ts';
import { createBuildApi } from '../../bake/sysext/runner.ts';

// Three jobs, so the three steps below may all run at once whatever this host's CPU count (--jobs caps them).
const api = createBuildApi(createContext({ log: memoryLogger(), jobs: 3 }), {
  recipe: getRecipe('kubernetes'),
  version: 'v1.31.4',
  arch: 'x86-64',
  options: {},
  root: '/nonexistent/root',
  scratch: '/nonexistent/scratch',
});

test('concurrently runs the steps together', async () => {
  const running: number[] = [];
  let most = 0;
  const step = (id: number) => async () => {
    running.push(id);
    most = Math.max(most, running.length);
    await sleep(20);
    running.splice(running.indexOf(id), 1);
  };
  await api.concurrently([step(1), step(2), step(3)]);
  assert.equal(most, 3);
});

test('concurrently reports the first failure in the order given, after every step has finished', async () => {
  const finished: string[] = [];
  const steps = [
    async () => {
      await sleep(30);
      finished.push('slow');
    },
    async () => {
      await sleep(10);
      throw new Error('second failed');
    },
    async () => {
      throw new Error('third failed');
    },
  ];
  await assert.rejects(api.concurrently(steps), /second failed/);
  assert.deepEqual(finished, ['slow']);
});
