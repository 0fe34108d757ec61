/**
 * `npm run demo`: the whole job on a built-in example, with no internet. It builds a small sysext with
 * `bake sysext pack`, publishes a signed Flatcar-layout release on a local mirror (the real path scheme,
 * a test signing key), bakes the sysext into it with `bake`, and shows what is inside the result.
 * The baked image stays in ./demo-output/ (override with DEMO_OUTPUT). Its release is a layout-only
 * stand-in (Flatcar's partitions, no bootloader or kernel), so the demo says so instead of booting it.
 */
import { chmod, mkdir, mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { $, chalk } from 'zx';
import { readGpt } from '../bake/image/gpt.ts';
import { createSigningKey } from '../test/support/fixtures/gpg.ts';
import { bakeEnv, buildReleaseMirror } from '../test/support/fixtures/release-tree.ts';
import { startMirror } from '../test/support/mirror.ts';

const bake = resolve(import.meta.dirname, '../bin/bake.js');
const output = resolve(process.env.DEMO_OUTPUT ?? 'demo-output');
$.verbose = false;

const step = (text: string) => process.stdout.write(`\n${chalk.bold.cyan(`==> ${text}`)}\n`);

async function makeExtensionTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'usr/bin'), { recursive: true });
  await mkdir(join(dir, 'usr/lib/systemd/system/multi-user.target.d'), { recursive: true });
  await writeFile(join(dir, 'usr/bin/hello'), '#!/bin/sh\necho "hello from a baked sysext"\n');
  await chmod(join(dir, 'usr/bin/hello'), 0o755);
  await writeFile(
    join(dir, 'usr/lib/systemd/system/hello.service'),
    '[Unit]\nDescription=Say hello\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/hello\n',
  );
  await writeFile(
    join(dir, 'usr/lib/systemd/system/multi-user.target.d/10-hello.conf'),
    '[Unit]\nUpholds=hello.service\n',
  );
}

/** Mounts the baked image's ROOT read-only and prints what bake wrote there; `scratch` is the demo's work dir. */
async function showResult(image: string, scratch: string): Promise<void> {
  const root = (await readGpt(image)).partitions.find((p) => p.number === 9)!;
  const device = (
    await $`losetup --find --show --read-only --offset ${root.offsetBytes} --sizelimit ${root.sizeBytes} ${image}`
  ).stdout.trim();
  const mountpoint = await mkdtemp(join(tmpdir(), 'bake-demo-root-'));
  try {
    await $`mount -o ro ${device} ${mountpoint}`;
    process.stdout.write(
      (await $`cd ${mountpoint} && find opt/extensions etc/extensions -printf '%M %u %10s %p %l\n'`).stdout,
    );
    step('systemd-dissect: is the baked file an extension systemd would merge?');
    // Named as in the image: systemd-dissect matches the file name against the extension-release name.
    const copy = join(await mkdtemp(join(scratch, 'from-image-')), 'hello.raw');
    await $`cp ${join(mountpoint, 'opt/extensions/hello/hello.raw')} ${copy}`;
    process.stdout.write(
      `${(await $`systemd-dissect ${copy}`.nothrow()).stdout
        .split('\n')
        .filter((l) => /Ext|extension|Name/.test(l))
        .join('\n')}\n`,
    );
  } finally {
    await $`umount ${mountpoint}`.nothrow();
    await $`losetup --detach ${device}`.nothrow();
    // rmdir, never rm -r: if the unmount failed, removing the mount point must not reach into the image.
    await rmdir(mountpoint).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'bake-demo-'));
  const key = await createSigningKey(join(work, 'key'));
  const mirror = await startMirror({ root: join(work, 'www') });
  try {
    step('1. Build a sysext from a tree (bake sysext pack)');
    await makeExtensionTree(join(work, 'tree'));
    process.stdout.write((await $`${bake} sysext pack ${join(work, 'tree')} hello --output-dir ${work}`).stdout);

    step('2. Publish a signed Flatcar release on a local mirror');
    await buildReleaseMirror(join(work, 'www'), {
      key,
      releases: [{ version: '4593.2.5', channel: 'stable', arches: ['amd64'] }],
      bakery: [],
      bakeryUrl: `${mirror.url}/extensions`,
    });
    process.stdout.write(
      `serving ${mirror.url}: releases.json, stable/amd64-usr/4593.2.5/{flatcar_production_image.bin.bz2,version.txt}{,.sig,.DIGESTS,.DIGESTS.sig}\n`,
    );

    step('3. Bake it: bake --release stable hello:hello.raw');
    await mkdir(output, { recursive: true });
    const env = { ...process.env, ...bakeEnv(mirror.url, join(work, 'cache')) };
    await $({ env, stdio: 'inherit', cwd: work })`${bake} --release stable --force --output ${output} hello:hello.raw`;

    step('4. What is inside the result (ROOT, partition 9)');
    await showResult(join(output, 'flatcar_production_image.bin'), work);
    step(`Done: ${join(output, 'flatcar_production_image.bin')}`);
    process.stdout.write(
      [
        "This image has Flatcar's partition layout but no bootloader or kernel: the demo release is a stand-in,",
        "so `bake boot` would stop at the firmware's shell (and says so). To boot a real release (downloads ~500 MiB):",
        '  bake --fetch docker:docker-27.3.1-x86-64.raw && bake boot --check flatcar_production_image.bin',
        '',
      ].join('\n'),
    );
  } finally {
    await mirror.close();
    await key.close();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
