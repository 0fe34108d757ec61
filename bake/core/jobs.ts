/**
 * How many things bake runs at once (decoder and compressor threads, vendor conversions, recipe
 * downloads): `--jobs N` or BAKE_JOBS, else the CPUs this process may use. os.availableParallelism()
 * honours the CPU affinity mask but not a cgroup CPU quota (a container limited to 2 CPUs on a 64-core
 * host sees 64), so the quota of the process's cgroup and its ancestors caps it.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { posix } from 'node:path';
import { usageError } from './errors.ts';

/** Reads a kernel file under `root` ('/' on a real host; a test's fake tree otherwise). */
function readKernelFile(root: string, path: string): string | undefined {
  try {
    return readFileSync(posix.join(root, path), 'utf8');
  } catch {
    return undefined;
  }
}

/** `cpu.max` (v2): "<quota> <period>" or "max <period>"; `cfs_quota_us` -1 (v1): no limit. */
function quotaCpus(quota: number, period: number): number | undefined {
  if (!(quota > 0) || !(period > 0)) return undefined;
  return Math.max(1, Math.ceil(quota / period));
}

function cgroupV2Limit(root: string, cgroupPath: string): number | undefined {
  const limits: number[] = [];
  // A limit on any ancestor applies too: walk from the process's own cgroup up to the root.
  for (let dir = cgroupPath; ; dir = posix.dirname(dir)) {
    const [quota, period] = (readKernelFile(root, posix.join('/sys/fs/cgroup', dir, 'cpu.max')) ?? '')
      .trim()
      .split(/\s+/);
    const cpus = quotaCpus(Number(quota), Number(period));
    if (cpus !== undefined) limits.push(cpus);
    if (dir === '/' || dir === '.') break;
  }
  return limits.length > 0 ? Math.min(...limits) : undefined;
}

function cgroupV1Limit(root: string, cgroupPath: string): number | undefined {
  for (const dir of [
    posix.join('/sys/fs/cgroup/cpu', cgroupPath),
    '/sys/fs/cgroup/cpu',
    '/sys/fs/cgroup/cpu,cpuacct',
  ]) {
    const quota = Number(readKernelFile(root, posix.join(dir, 'cpu.cfs_quota_us'))?.trim());
    const period = Number(readKernelFile(root, posix.join(dir, 'cpu.cfs_period_us'))?.trim());
    const cpus = quotaCpus(quota, period);
    if (cpus !== undefined) return cpus;
  }
  return undefined;
}

/** The CPUs a cgroup CPU quota allows this process; undefined when there is none. */
export function cgroupCpuLimit(root = '/'): number | undefined {
  const lines = (readKernelFile(root, '/proc/self/cgroup') ?? '').split('\n');
  const v2 = lines.find((line) => line.startsWith('0::'));
  if (v2) return cgroupV2Limit(root, posix.normalize(`/${v2.slice(3).trim()}`));
  const v1 = lines.map((line) => line.split(':')).find(([, controllers]) => controllers?.split(',').includes('cpu'));
  return cgroupV1Limit(root, posix.normalize(`/${v1?.[2]?.trim() ?? ''}`));
}

/** The CPUs this process may use: its affinity mask, capped by its cgroup's quota. */
export function usableCpus(root = '/', parallelism = availableParallelism()): number {
  const limit = cgroupCpuLimit(root);
  return limit === undefined ? parallelism : Math.min(parallelism, limit);
}

/** `--jobs` (or BAKE_JOBS) as given, else the usable CPUs. */
export function resolveJobs(value: string | undefined, cpus: () => number = usableCpus): number {
  if (value === undefined || value === '') return cpus();
  if (!/^[1-9]\d*$/.test(value))
    throw usageError(`--jobs must be a whole number of at least 1, not '${value}'`, 'e.g. --jobs 4 or BAKE_JOBS=4');
  return Number(value);
}
