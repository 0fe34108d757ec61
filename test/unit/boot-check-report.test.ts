import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { type BootReport, formatReport } from '../../bake/boot/check.ts';
import { CHECK_SCRIPT_PATH, CHECK_UNIT, checkProvisioning, parseCheckReport } from '../../bake/boot/guest-check.ts';
import { toIgnition } from '../../bake/provision/ignition.ts';

const schema = JSON.parse(
  await readFile(new URL('../fixtures/ignition/config-3.3.schema.json', import.meta.url), 'utf8'),
) as object;
const validate = new Ajv({ allErrors: true }).compile(schema);

/** A serial log as the guest writes it: firmware noise, ANSI escapes, CR LF, kernel lines in between. */
const SERIAL = [
  '\x1b[2J\x1b[01;01HBdsDxe: loading Boot0002 "EFI Internal Shell"',
  '[   20.697819] systemd[1]: Reached target paths.target - Path Units.\r',
  '\x1b[?2004hroot@flatcar-fixture:~# BAKE-CHECK begin\r',
  'BAKE-CHECK system running\r',
  'BAKE-CHECK extension hello merged=yes image=/opt/extensions/hello/hello-1-x86-64.raw\r',
  'BAKE-CHECK unit hello hello.service Result=success ActiveState=active SubState=exited InactiveExitTimestampMonotonic=77000000 \r',
  'BAKE-CHECK unit hello once.service Result=success ActiveState=inactive SubState=dead InactiveExitTimestampMonotonic=78000000 \r',
  'BAKE-CHECK unit hello never.service Result=success ActiveState=inactive SubState=dead InactiveExitTimestampMonotonic=0 \r',
  'BAKE-CHECK extension broken merged=no image=/opt/extensions/broken/broken.raw\r',
  'BAKE-CHECK unit broken broken.service Result=success ActiveState=inactive SubState=dead InactiveExitTimestampMonotonic=0 \r',
  'BAKE-CHECK extension crashed merged=yes image=/opt/extensions/crashed.raw\r',
  'BAKE-CHECK unit crashed crash.service Result=exit-code ActiveState=failed SubState=failed InactiveExitTimestampMonotonic=79000000 \r',
  'BAKE-CHECK sysext HIERARCHY EXTENSIONS SINCE\r',
  'BAKE-CHECK sysext /usr      hello      Wed 2026-11-25 21:47:39 UTC\r',
  'BAKE-CHECK end\r',
  '[  OK  ] Stopped systemd-sysext.service',
].join('\n');

test('the report says per extension whether it merged and which units ran', () => {
  const report = parseCheckReport(SERIAL, []);
  assert.equal(report.complete, true);
  assert.equal(report.systemState, 'running');
  assert.deepEqual(
    report.extensions.map((e) => [e.name, e.merged, e.pass]),
    [
      ['hello', true, false],
      ['broken', false, false],
      ['crashed', true, false],
    ],
  );
  const hello = report.extensions[0]!;
  assert.deepEqual(
    hello.units.map((u) => [u.unit, u.ok]),
    [
      ['hello.service', true],
      ['once.service', true],
      ['never.service', false],
    ],
  );
  assert.equal(hello.problem, 'units did not run: never.service');
  assert.equal(report.extensions[1]!.problem, 'not merged by systemd-sysext');
  assert.equal(report.extensions[2]!.units[0]!.activeState, 'failed');
  assert.deepEqual(report.sysextStatus, [
    'HIERARCHY EXTENSIONS SINCE',
    '/usr      hello      Wed 2026-11-25 21:47:39 UTC',
  ]);
});

test('an extension that was asked for but never reported fails', () => {
  const report = parseCheckReport(SERIAL, ['hello', 'missing']);
  assert.deepEqual(
    report.extensions.map((e) => e.name),
    ['hello', 'missing'],
  );
  assert.equal(report.extensions[1]!.pass, false);
  assert.equal(report.extensions[1]!.problem, 'not merged by systemd-sysext');
});

test('a merged extension whose units all ran passes; a report without its end is incomplete', () => {
  const lines = SERIAL.split('\n').filter((line) => !/never\.service/.test(line));
  assert.equal(parseCheckReport(lines.join('\n'), ['hello']).extensions[0]!.pass, true);
  const cut = lines.filter((line) => !/BAKE-CHECK end/.test(line)).join('\n');
  assert.equal(parseCheckReport(cut, ['hello']).complete, false);
  assert.equal(parseCheckReport('', []).complete, false);
});

test('when systemd-sysext.service failed, every unmerged extension says why', () => {
  const log = [
    'BAKE-CHECK begin',
    'BAKE-CHECK extension broken merged=no image=/opt/extensions/broken/broken.raw',
    'BAKE-CHECK extension good merged=no image=/opt/extensions/good/good.raw',
    'BAKE-CHECK sysext-service ActiveState=failed Result=exit-code ',
    "BAKE-CHECK sysext-log Using extensions 'good', 'broken'.",
    "BAKE-CHECK sysext-log Extension image 'broken' has no extension-release file.",
    'BAKE-CHECK end',
  ].join('\n');
  const report = parseCheckReport(log, []);
  assert.deepEqual(report.sysextService, { activeState: 'failed', result: 'exit-code' });
  assert.equal(report.sysextLog.length, 2);
  for (const extension of report.extensions) {
    assert.equal(
      extension.problem,
      "not merged by systemd-sysext (systemd-sysext.service failed: Extension image 'broken' has no extension-release file.)",
    );
  }
});

test('an image the guest could not mount fails instead of passing with no units', () => {
  const log =
    'BAKE-CHECK begin\nBAKE-CHECK extension odd merged=yes image=/x.raw\nBAKE-CHECK unreadable odd\nBAKE-CHECK end\n';
  const odd = parseCheckReport(log, []).extensions[0]!;
  assert.equal(odd.pass, false);
  assert.match(odd.problem!, /could not mount/);
});

test('the check is delivered as a valid Ignition config: script and enabled unit', () => {
  const ignition = toIgnition(checkProvisioning(['hello', 'docker-ce']));
  assert.ok(validate(ignition), JSON.stringify(validate.errors));
  const script = ignition.storage!.files!.find((file) => file.path === CHECK_SCRIPT_PATH)!;
  assert.equal(script.mode, 0o755);
  assert.match(decodeURIComponent(script.contents.source.replace(/^data:,/, '')), /^#!\/bin\/sh\n/);
  const unit = ignition.systemd!.units.find((u) => u.name === CHECK_UNIT)!;
  assert.equal(unit.enabled, true);
  assert.match(unit.contents!, new RegExp(`ExecStart=${CHECK_SCRIPT_PATH} hello docker-ce\\n`));
  assert.throws(() => checkProvisioning(['ok', 'bad;rm -rf /']), /invalid extension name/);
});

test('the human report names each failure and shows the console tail when the guest never reported', () => {
  const report: BootReport = {
    pass: false,
    accel: 'tcg',
    seconds: 300,
    problem: 'the guest did not report within 300 s',
    sysextStatus: [],
    sysextLog: [],
    serialTail: ['Kernel panic - not syncing'],
    extensions: parseCheckReport(SERIAL, ['broken']).extensions,
  };
  const text = formatReport(report);
  assert.match(text, /^FAIL broken: not merged/m);
  assert.match(text, /FAIL the guest did not report within 300 s/);
  assert.match(text, /\| Kernel panic/);
  assert.match(text, /boot check failed in 300 s \(tcg\)/);
});
