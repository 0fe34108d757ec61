import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chooseAccel, parseAccel } from '../../bake/boot/accel.ts';
import { findFirmware, firmwareCandidates, HOST_FIRMWARE, prepareFirmware } from '../../bake/boot/firmware.ts';
import { parseServe } from '../../bake/boot/ignition-input.ts';
import { IGNITION_FW_CFG, parseForward, qemuArgs, type VmSpec } from '../../bake/boot/qemu.ts';
import { serveFiles } from '../../bake/boot/server.ts';

const spec: VmSpec = {
  accel: 'tcg',
  memoryMiB: 1024,
  cpus: 2,
  name: 'vm',
  firmware: { code: '/fw/code.qcow2', codeFormat: 'qcow2', vars: '/w/vars.qcow2', varsFormat: 'qcow2' },
  disk: { path: '/w/disk,1.qcow2', format: 'qcow2' },
  ignitionFile: '/w/config.ign',
  forwards: [
    { host: 2222, guest: 22 },
    { host: 8080, guest: 80 },
  ],
  console: { kind: 'file', path: '/w/serial.log' },
  noReboot: true,
  extraArgs: ['-snapshot'],
};

function flagValues(args: string[], flag: string): string[] {
  return args.flatMap((arg, index) => (arg === flag ? [args[index + 1]!] : []));
}

test("the qemu command line follows Flatcar's launcher and captures the serial port headless", () => {
  const args = qemuArgs(spec);
  assert.deepEqual(flagValues(args, '-machine'), ['q35,accel=tcg']);
  assert.deepEqual(flagValues(args, '-cpu'), ['max'], 'TCG cannot pass the host CPU through');
  assert.deepEqual(flagValues(args, '-drive'), [
    'if=pflash,unit=0,file=/fw/code.qcow2,format=qcow2,readonly=on',
    'if=pflash,unit=1,file=/w/vars.qcow2,format=qcow2',
    'if=none,id=blk,file=/w/disk,,1.qcow2,format=qcow2',
  ]);
  assert.deepEqual(flagValues(args, '-fw_cfg'), [`name=${IGNITION_FW_CFG},file=/w/config.ign`]);
  assert.equal(IGNITION_FW_CFG, 'opt/org.flatcar-linux/config');
  assert.deepEqual(flagValues(args, '-netdev'), [
    'user,id=eth0,hostname=vm,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:8080-:80',
  ]);
  assert.deepEqual(flagValues(args, '-serial'), ['file:/w/serial.log']);
  assert.ok(args.includes('-no-reboot'));
  assert.equal(args.at(-1), '-snapshot', 'extra args come last, so they can override');
  assert.equal(args.includes('-nographic'), false);
});

test('interactive runs put the console on the terminal and KVM uses the host CPU', () => {
  const args = qemuArgs({
    ...spec,
    accel: 'kvm',
    console: { kind: 'terminal' },
    noReboot: false,
    ignitionFile: undefined,
    extraArgs: [],
  });
  assert.ok(args.includes('-nographic'));
  assert.deepEqual(flagValues(args, '-cpu'), ['host']);
  assert.equal(args.includes('-no-reboot'), false);
  assert.equal(args.includes('-fw_cfg'), false);
});

test('port forwards and served files are parsed or refused', () => {
  assert.deepEqual(parseForward('8080:80'), { host: 8080, guest: 80 });
  for (const bad of ['8080', '0:80', '70000:80', 'a:b']) assert.throws(() => parseForward(bad));
  assert.deepEqual(parseServe('docker:./d.raw'), { name: 'docker', path: './d.raw' });
  assert.throws(
    () => parseServe('docker'),
    (error: Error & { hint?: string }) => /--serve/.test(error.message) && /name:file/.test(error.hint ?? ''),
  );
  assert.equal(parseAccel('tcg'), 'tcg');
  assert.throws(() => parseAccel('hvf'), /unknown --accel/);
});

test('KVM is used only when /dev/kvm is usable and not PVM', async () => {
  const probe = (usable: boolean, pvm: boolean) => ({ kvmUsable: async () => usable, kvmIsPvm: async () => pvm });
  assert.equal((await chooseAccel(undefined, probe(true, false))).accel, 'kvm');
  assert.equal((await chooseAccel(undefined, probe(false, false))).accel, 'tcg');
  const pvm = await chooseAccel(undefined, probe(true, true));
  assert.deepEqual(pvm, { accel: 'tcg', why: 'KVM here is PVM, which hangs guests' });
  assert.equal((await chooseAccel('kvm', probe(false, true))).accel, 'kvm', 'an explicit choice wins');
});

test('firmware comes from --firmware-dir, then beside the image, then the host; vars are copied', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'boot-fw-'));
  try {
    const image = join(dir, 'flatcar_production_qemu_uefi_image.img');
    const candidates = firmwareCandidates(image, '/elsewhere');
    assert.equal(candidates[0]!.code, '/elsewhere/flatcar_production_qemu_uefi_efi_code.qcow2');
    assert.equal(candidates.at(-HOST_FIRMWARE.length)!.code, HOST_FIRMWARE[0]!.code);
    await assert.rejects(findFirmware(firmwareCandidates(image).slice(0, 4)), /no UEFI firmware found/);
    await writeFile(join(dir, 'flatcar_production_qemu_uefi_efi_code.qcow2'), 'code');
    await writeFile(join(dir, 'flatcar_production_qemu_uefi_efi_vars.qcow2'), 'vars');
    const found = await findFirmware(firmwareCandidates(image));
    assert.equal(found.code, join(dir, 'flatcar_production_qemu_uefi_efi_code.qcow2'));
    const work = await mkdtemp(join(dir, 'work-'));
    const prepared = await prepareFirmware(found, work);
    assert.deepEqual([prepared.codeFormat, prepared.varsFormat], ['qcow2', 'qcow2']);
    assert.ok(prepared.vars.startsWith(work));
    assert.equal(await readFile(prepared.vars, 'utf8'), 'vars');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the file server hands out only the named files, on the loopback address', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'boot-serve-'));
  try {
    await writeFile(join(dir, 'hello-1-x86-64.raw'), 'sysext bytes');
    await writeFile(join(dir, 'secret'), 'not served');
    {
      await using server = await serveFiles([join(dir, 'hello-1-x86-64.raw')]);
      assert.equal(server.guestUrl, `http://10.0.2.2:${server.port}`);
      const base = `http://127.0.0.1:${server.port}`;
      const ok = await fetch(`${base}/hello-1-x86-64.raw`);
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), 'sysext bytes');
      assert.equal((await fetch(`${base}/secret`)).status, 404);
      assert.equal((await fetch(`${base}/../secret`)).status, 404);
      assert.deepEqual(
        server.requests.map((r) => r.split(' ')[2]),
        ['200', '404', '404'],
      );
    }
    await assert.rejects(serveFiles([join(dir, 'missing.raw')]), /does not exist/);
    await assert.rejects(serveFiles([join(dir, 'secret'), join(dir, 'secret')]), /two served files/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
