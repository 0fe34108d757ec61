/**
 * Every core bake may use: the cgroup CPU quota (v2 and v1, read from a generated fake /sys and /proc
 * tree) caps os.availableParallelism(), --jobs/BAKE_JOBS overrides both, and the decoder, the vendor
 * compressors and recipe steps run with that many threads or jobs.
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { contextFromOptions } from '../../bake/cli-context.ts';
import { createContext } from '../../bake/context.ts';
import { allFinishedLimited } from '../../bake/core/all-finished.ts';
import { isBakeError } from '../../bake/core/errors.ts';
import { cgroupCpuLimit, resolveJobs, usableCpus } from '../../bake/core/jobs.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { decompressBz2 } from '../../bake/image/decompress.ts';
import { COMPRESSORS } from '../../bake/vendor/compress.ts';
import { fixtureRunner } from '../support/fixtures/run.ts';

async function fakeKernel(
  t: { after: (fn: () => Promise<void>) => void },
  files: Record<string, string>,
): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'bake-jobs-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(root, dirname(path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

test('cgroup v2: the smallest quota of the process cgroup and its ancestors, rounded up', async (t) => {
  const root = await fakeKernel(t, {
    'proc/self/cgroup': '0::/ci.slice/runner-7\n',
    'sys/fs/cgroup/ci.slice/cpu.max': '250000 100000\n',
    'sys/fs/cgroup/ci.slice/runner-7/cpu.max': 'max 100000\n',
  });
  assert.equal(cgroupCpuLimit(root), 3);
  assert.equal(usableCpus(root, 16), 3, 'a 16-core runner limited to 2.5 CPUs');
  assert.equal(usableCpus(root, 2), 2, 'the affinity mask still applies');
});

test('cgroup v1: cpu.cfs_quota_us / cpu.cfs_period_us; -1 is no limit', async (t) => {
  const limited = await fakeKernel(t, {
    'proc/self/cgroup': '5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n',
    'sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us': '400000\n',
    'sys/fs/cgroup/cpu/docker/abc/cpu.cfs_period_us': '100000\n',
  });
  assert.equal(cgroupCpuLimit(limited), 4);
  const unlimited = await fakeKernel(t, {
    'proc/self/cgroup': '4:cpu,cpuacct:/\n',
    'sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n',
    'sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
  });
  assert.equal(cgroupCpuLimit(unlimited), undefined);
  assert.equal(usableCpus(unlimited, 16), 16);
});

test('no cgroup files at all: the parallelism as os reports it', async (t) => {
  const root = await fakeKernel(t, { 'proc/self/cgroup': '0::/\n' });
  assert.equal(cgroupCpuLimit(root), undefined);
  assert.equal(usableCpus(root, 6), 6);
});

test('--jobs / BAKE_JOBS: a whole number ≥ 1 wins over the CPUs; anything else is a usage error', () => {
  assert.equal(
    resolveJobs('5', () => 2),
    5,
  );
  assert.equal(
    resolveJobs(undefined, () => 7),
    7,
  );
  assert.equal(
    resolveJobs('', () => 7),
    7,
  );
  for (const bad of ['0', '-1', '2.5', 'all', ' 3']) {
    assert.throws(
      () => resolveJobs(bad, () => 2),
      (e: unknown) => isBakeError(e) && e.kind === 'usage',
      bad,
    );
  }
  assert.equal(contextFromOptions({ jobs: '3' }).jobs, 3);
  assert.throws(
    () => contextFromOptions({ jobs: '0' }),
    (e: unknown) => isBakeError(e) && e.kind === 'usage',
  );
});

test('the decoder runs with --jobs threads (lbzip2 -n N)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bake-jobs-bz2-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'data'), Buffer.alloc(1 << 20, 7));
  await fixtureRunner().run('bzip2', ['-k', join(dir, 'data')]);
  const log = memoryLogger();
  assert.equal(await decompressBz2(createContext({ log, jobs: 5 }), join(dir, 'data.bz2'), join(dir, 'out')), 'lbzip2');
  assert.ok(
    log.lines.some((line) => / lbzip2 -d -c -n 5 /.test(`${line} `)),
    log.lines.join('\n'),
  );
});

test('the vendor compressors use the same number of threads', () => {
  assert.deepEqual(COMPRESSORS.bz2.args(6).slice(-2), ['-n', '6']);
  assert.deepEqual(COMPRESSORS.gz.args(6).slice(-2), ['-p', '6']);
  assert.deepEqual(COMPRESSORS.zip.args(6).slice(-2), ['-p', '6']);
  assert.equal(COMPRESSORS.zst.args(6).at(-1), '-T6');
});

test('recipe steps run at most --jobs at a time; after a failure no new step starts', async () => {
  let running = 0;
  let most = 0;
  const releases: Array<() => void> = [];
  const step = (value: number) => async () => {
    running++;
    most = Math.max(most, running);
    await new Promise<void>((resolve) => releases.push(resolve));
    running--;
    return value;
  };
  let done = false;
  const all = allFinishedLimited([1, 2, 3, 4, 5].map(step), 2).finally(() => (done = true));
  // Release whichever steps are waiting, turn after turn, until all five have run.
  while (!done) {
    await new Promise((resolve) => setImmediate(resolve));
    for (const release of releases.splice(0)) release();
  }
  assert.deepEqual(await all, [1, 2, 3, 4, 5]);
  assert.equal(most, 2);

  const started: number[] = [];
  const failing = [0, 1, 2].map((index) => async () => {
    started.push(index);
    if (index === 0) throw new Error('first fails');
  });
  await assert.rejects(allFinishedLimited(failing, 1), /first fails/);
  assert.deepEqual(started, [0]);
});
