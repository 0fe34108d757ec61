/**
 * Benchmark of the bake pipeline on a release of realistic size (default 2 GiB disk with ~300 MiB of
 * incompressible data; `--size 8G` like the real base image), side by side in one run:
 * cold bake (empty cache), warm bake (cached release), `lbzip2 -dc` and `bunzip2 -c` of the same file,
 * bake's own decompression of it into a sparse image, the CPU the host stole meanwhile, bake's peak
 * memory, and the output's allocated vs apparent size.
 * Targets: cold ≤ 1.3× lbzip2 alone; warm ≤ 10% of cold; peak RSS ≤ 300 MiB; allocated ≤ 1.2× the data.
 * lbzip2 runs with the threads bake's decoder gets: the CPUs bake may use by default, and one with
 * `--jobs 1` (a shorter second series), so both ratios compare like with like.
 * Several vendors: a cold bake making azure, kubevirt and hyperv_vhdx natively (one download, verify,
 * decompress and install) against a cold bake plus those three `qemu-img convert`s alone; target ≤ 1.2×.
 */
import { mkdir, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { execa } from 'execa';
import { createContext } from '../../bake/context.ts';
import { usableCpus } from '../../bake/core/jobs.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { decompressTo } from '../../bake/flatcar/base-image.ts';
import { convertArgs } from '../../bake/vendor/convert.ts';
import { compiledBuildIsFresh } from '../../bin/build-freshness.js';
import { createSigningKey, signDetached } from '../../test/support/fixtures/gpg.ts';
import { bakeEnv, buildReleaseMirror, releaseFor } from '../../test/support/fixtures/release-tree.ts';
import { makeSysextImage } from '../../test/support/fixtures/sysext.ts';
import { startMirror } from '../../test/support/mirror.ts';
import { type VendorId, vendorFormat } from '../../vendors/formats.ts';
import type { BenchOptions, BenchRow } from '../bench.ts';
import { median, timed, timedWithSteal } from '../measure.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'bin/bake.js');
const MIB = 1024 * 1024;
const RUNS = 7;
const SINGLE_THREAD_RUNS = 3;
/** Native vendors whose disks qemu-img converts (fixed VHD, compressed qcow2, VHDX); their OEMs are sysexts in 4593. */
const SEVERAL_VENDORS: readonly VendorId[] = ['azure', 'kubevirt', 'hyperv_vhdx'];
const SEVERAL_RUNS = 3;
const SEVERAL_TARGET = 1.2;

interface BakeRun {
  seconds: number;
  /** CPU seconds the host took from this VM meanwhile (see stolenSeconds). */
  stolen: number;
  peakRssMiB: number;
  /** Seconds per finished stage, from bake's own "✔ <stage> [1.23 s]" lines. */
  stages: Map<string, number>;
}

function stageTimes(log: string): Map<string, number> {
  return new Map([...log.matchAll(/^✔ (.+) \[(\d+\.\d+) s\]$/gm)].map((match) => [match[1]!, Number(match[2])]));
}

/** Runs bake under GNU time, which reports the peak RSS of bake and every process it waited for. */
async function bakeOnce(args: string[], env: Record<string, string>, output: string): Promise<BakeRun> {
  // Not part of a bake: --force replacing the previous round's image frees its blocks inside the timed
  // rename (~0.07 s), which a bake into a fresh directory never pays.
  await rm(output, { force: true });
  let stderr = '';
  const { seconds, stolen } = await timedWithSteal(async () => {
    const result = await execa('/usr/bin/time', ['-f', 'PEAK_RSS_KB=%M', process.execPath, CLI, ...args], {
      env,
      reject: false,
    });
    stderr = String(result.stderr);
    if (result.exitCode !== 0) throw new Error(`bake failed:\n${stderr}`);
  });
  const peakKb = Number(/PEAK_RSS_KB=(\d+)/.exec(stderr)?.[1] ?? NaN);
  return { seconds, stolen, peakRssMiB: peakKb / 1024, stages: stageTimes(stderr) };
}

/** Signed OEM sysexts for the vendors, beside the release's image on the mirror. */
async function addOemSysexts(
  key: Parameters<typeof signDetached>[0],
  releaseDir: string,
  vendors: readonly VendorId[],
): Promise<void> {
  for (const oem of new Set(vendors.map((vendor) => vendorFormat(vendor).oem!))) {
    const image = await makeSysextImage(join(releaseDir, `oem-${oem}.raw`), {
      name: `oem-${oem}`,
      arch: 'x86-64',
      id: 'flatcar',
      files: { 'usr/share/oem/marker': `${oem}\n` },
    });
    await signDetached(key, image.path);
  }
}

/** The three conversions alone, on the baked generic image, one after the other (seconds in all). */
async function conversionsAlone(image: string, scratch: string): Promise<number> {
  let seconds = 0;
  for (const vendor of SEVERAL_VENDORS) {
    const out = join(scratch, `${vendor}.out`);
    seconds += await timed(() => execa('qemu-img', convertArgs(vendorFormat(vendor).disk, image, out)!));
    await rm(out, { force: true });
  }
  return seconds;
}

/** Bytes in 4 KiB blocks that are not all zero: the data a sparse copy has to keep. */
async function nonZeroBytes(path: string): Promise<number> {
  const file = await open(path, 'r');
  const buffer = Buffer.alloc(8 * MIB);
  let count = 0;
  try {
    for (let position = 0; ; position += buffer.length) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      for (let block = 0; block < bytesRead; block += 4096) {
        if (buffer.subarray(block, Math.min(block + 4096, bytesRead)).some((byte) => byte !== 0)) count += 4096;
      }
    }
  } finally {
    await file.close();
  }
  return count;
}

export async function run(options: BenchOptions): Promise<BenchRow[]> {
  const work = await mkdtemp(join(tmpdir(), 'bench-bake-'));
  const key = await createSigningKey(join(work, 'key'));
  const mirrorRoot = join(work, 'www');
  const mirror = await startMirror({ root: mirrorRoot });
  try {
    const disk = { totalSizeMiB: options.sizeMiB, randomDataMiB: options.randomMiB };
    const manifest = await buildReleaseMirror(mirrorRoot, {
      key,
      releases: [{ version: '4593.2.5', channel: 'stable', arches: ['amd64'], disk }],
      bakery: [],
      bakeryUrl: `${mirror.url}/extensions`,
    });
    const bz2 = join(mirrorRoot, releaseFor(manifest, '4593.2.5').image);
    await addOemSysexts(key, join(mirrorRoot, releaseFor(manifest, '4593.2.5').dir), SEVERAL_VENDORS);
    const out = join(work, 'out');
    await mkdir(out);
    const output = join(out, 'flatcar_production_image.bin');
    await makeSysextImage(join(work, 'hello.raw'), {
      name: 'hello',
      arch: 'x86-64',
      files: { 'usr/bin/hello': '#!/bin/sh\necho hello\n' },
    });
    const env = { ...process.env, ...bakeEnv(mirror.url, join(work, 'cache')) } as Record<string, string>;
    const args = ['--force', '--output', out, `hello:${join(work, 'hello.raw')}`];
    // bin/bake.js falls back to compiling the sources on the fly when dist/ is older than them, which
    // costs every bake ~0.3 s (more with a cold tsx cache): users run a build (npm ci does one), so
    // the bench measures one too.
    if (!compiledBuildIsFresh(ROOT)) await execa('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' });
    await execa('sync'); // the fixture's own writes must not be written back during the timed runs
    const jobs = usableCpus();
    const lbzip2Alone = (threads = jobs) =>
      execa('lbzip2', ['-d', '-c', '-n', String(threads), bz2], { stdout: 'ignore' });
    // An untimed cold bake and lbzip2 run first, as any benchmark warms up, so "cold" means a cold
    // release cache, not a cold checkout or machine. On this VM the first heavy run after the fixture is
    // written meets the host still busy with it (measured: 0.2-0.4 CPU-s stolen from it, ~0.01 s from
    // later runs), and without a warm-up that lands on the first cold bake alone: its baseline runs after it.
    await bakeOnce(args, env, output);
    await lbzip2Alone();
    // Cold and warm bakes alternate with the baseline, and each target is judged on the median of the
    // per-round ratios: on this kind of VM the same lbzip2 run takes 7.3 s or 13 s depending on its
    // neighbours, so only runs made back to back can be compared. The baseline runs before the bakes in
    // every other round, so a machine that slows down or speeds up during a round favours neither side.
    const [colds, warms, lbzip2s, decodes]: [BakeRun[], number[], number[], number[]] = [[], [], [], []];
    const lbzip2Steals: number[] = [];
    // Next to lbzip2 alone, bake's own decompression of the same file into a sparse image: the part of
    // a cold bake that no overlapping can hide, so the floor under the cold bake's ratio.
    const decoded = join(work, 'decoded.bin');
    const baseline = async () => {
      const lbzip2 = await timedWithSteal(lbzip2Alone);
      lbzip2s.push(lbzip2.seconds);
      lbzip2Steals.push(lbzip2.stolen);
      decodes.push(await timed(() => decompressTo(createContext({ log: memoryLogger() }), bz2, decoded)));
      await rm(decoded);
    };
    for (let run = 0; run < RUNS; run++) {
      await rm(join(work, 'cache'), { recursive: true, force: true });
      if (run % 2 === 1) await baseline();
      colds.push(await bakeOnce(args, env, output));
      warms.push((await bakeOnce(args, env, output)).seconds);
      if (run % 2 === 0) await baseline();
    }
    // --jobs 1 against lbzip2 -n 1, alternating the same way.
    const [singleColds, singleLbzip2s]: [number[], number[]] = [[], []];
    for (let run = 0; run < SINGLE_THREAD_RUNS; run++) {
      await rm(join(work, 'cache'), { recursive: true, force: true });
      if (run % 2 === 1) singleLbzip2s.push(await timed(() => lbzip2Alone(1)));
      singleColds.push((await bakeOnce(['--jobs', '1', ...args], env, output)).seconds);
      if (run % 2 === 0) singleLbzip2s.push(await timed(() => lbzip2Alone(1)));
    }
    const singleRatios = singleColds.map((seconds, round) => seconds / singleLbzip2s[round]!);
    // Three native vendors in one cold bake, against a cold bake plus the three conversions alone.
    const severalArgs = [
      '--vendor',
      SEVERAL_VENDORS.join(','),
      '--vendor-route',
      'native',
      '--compression',
      'none',
      ...args,
    ];
    const [severals, severalBaselines]: [number[], number[]] = [[], []];
    for (let run = 0; run < SEVERAL_RUNS; run++) {
      await rm(join(work, 'cache'), { recursive: true, force: true });
      const generic = (await bakeOnce(args, env, output)).seconds;
      severalBaselines.push(generic + (await conversionsAlone(output, work)));
      await rm(join(work, 'cache'), { recursive: true, force: true });
      severals.push((await bakeOnce(severalArgs, env, output)).seconds);
      for (const name of await readdir(out)) if (name !== basename(output)) await rm(join(out, name), { force: true });
    }
    const severalRatios = severals.map((seconds, round) => seconds / severalBaselines[round]!);
    const severalRatio = median(severalRatios);
    const singleRatio = median(singleRatios);
    const cold = {
      seconds: median(colds.map((c) => c.seconds)),
      peakRssMiB: Math.max(...colds.map((c) => c.peakRssMiB)),
    };
    const warm = { seconds: median(warms) };
    const lbzip2 = median(lbzip2s);
    const coldRatios = colds.map((c, round) => c.seconds / lbzip2s[round]!);
    const decodeRatios = decodes.map((seconds, round) => seconds / lbzip2s[round]!);
    const warmRatios = warms.map((seconds, round) => seconds / colds[round]!.seconds);
    const [coldRatio, warmRatio] = [median(coldRatios), median(warmRatios)];
    const stageNames = [...colds[0]!.stages.keys()];
    const stages = stageNames
      .map((name) => `${name} ${median(colds.map((c) => c.stages.get(name) ?? 0)).toFixed(2)}`)
      .join(', ');
    const outsideStages = median(
      colds.map((c) => c.seconds - [...c.stages.values()].reduce((sum, seconds) => sum + seconds, 0)),
    );
    const rounds = (ratios: number[], scale = 1) =>
      ratios.map((ratio) => (ratio * scale).toFixed(scale === 1 ? 2 : 1)).join(' ');
    const steals = colds.map((c, round) => `${c.stolen.toFixed(2)}|${lbzip2Steals[round]!.toFixed(2)}`).join(' ');
    const bunzip2 = await timed(() => execa('bunzip2', ['-c', bz2], { stdout: 'ignore' }));
    const info = await stat(output);
    const allocated = info.blocks * 512;
    const data = await nonZeroBytes(output);
    return [
      {
        name: `fixture: ${options.sizeMiB} MiB disk, ${options.randomMiB} MiB random, bz2 ${((await stat(bz2)).size / MIB).toFixed(0)} MiB`,
        value: options.sizeMiB,
        unit: 'MiB',
      },
      {
        name: `lbzip2 -dc -n ${jobs} > /dev/null, the CPUs bake may use (median of ${RUNS})`,
        value: lbzip2,
        unit: 's',
      },
      { name: 'bunzip2 -c > /dev/null', value: bunzip2, unit: 's' },
      {
        name: `bake's decompression alone: lbzip2 into a sparse file, written back (median of ${RUNS})`,
        value: median(decodes),
        unit: 's',
      },
      {
        name: `  / lbzip2 per round: ${rounds(decodeRatios)}; median (the floor under the cold bake's ratio)`,
        value: median(decodeRatios),
        unit: '×',
      },
      { name: `cold bake: download, verify, decompress, install (median of ${RUNS})`, value: cold.seconds, unit: 's' },
      { name: `  stages (median s): ${stages}; outside them (start-up, exit)`, value: outsideStages, unit: 's' },
      {
        name: `cold bake (default, ${jobs} jobs) / lbzip2 -n ${jobs} per round: ${rounds(coldRatios)}; median`,
        value: coldRatio,
        unit: '×',
        target: '≤ 1.3×',
        pass: coldRatio <= 1.3,
      },
      { name: `cold bake --jobs 1 (median of ${SINGLE_THREAD_RUNS})`, value: median(singleColds), unit: 's' },
      {
        name: `cold bake --jobs 1 / lbzip2 -n 1 per round: ${rounds(singleRatios)}; median`,
        value: singleRatio,
        unit: '×',
        target: '≤ 1.3×',
        pass: singleRatio <= 1.3,
      },
      {
        name: `  CPU the host stole per round, cold bake|lbzip2 (s): ${steals}; most in a cold bake`,
        value: Math.max(...colds.map((c) => c.stolen)),
        unit: 's',
      },
      {
        name: `cold bake + ${SEVERAL_VENDORS.join(', ')} qemu-img converts alone (median of ${SEVERAL_RUNS})`,
        value: median(severalBaselines),
        unit: 's',
      },
      {
        name: `one cold bake making ${SEVERAL_VENDORS.join(', ')} natively (median of ${SEVERAL_RUNS})`,
        value: median(severals),
        unit: 's',
      },
      {
        name: `  / cold bake + converts per round: ${rounds(severalRatios)}; median`,
        value: severalRatio,
        unit: '×',
        target: `≤ ${SEVERAL_TARGET}×`,
        pass: severalRatio <= SEVERAL_TARGET,
      },
      { name: `warm bake: cached release (median of ${RUNS})`, value: warm.seconds, unit: 's' },
      {
        name: `warm bake / cold bake per round (%): ${rounds(warmRatios, 100)}; median`,
        value: 100 * warmRatio,
        unit: '%',
        target: '≤ 10%',
        pass: warmRatio <= 0.1,
      },
      {
        name: 'peak RSS, cold bakes (bake and its children)',
        value: cold.peakRssMiB,
        unit: 'MiB',
        target: '≤ 300 MiB',
        pass: cold.peakRssMiB <= 300,
      },
      { name: 'output apparent size', value: info.size / MIB, unit: 'MiB' },
      {
        name: 'output allocated size',
        value: allocated / MIB,
        unit: 'MiB',
        target: `≤ 1.2× non-zero data (${(data / MIB).toFixed(0)} MiB)`,
        pass: allocated <= 1.2 * data,
      },
    ];
  } finally {
    await mirror.close();
    await key.close();
    await rm(work, { recursive: true, force: true });
  }
}
