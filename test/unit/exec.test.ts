import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BakeError } from '../../bake/core/errors.ts';
import { commandLine, createRunner, findTool, quoteForLog } from '../../bake/core/exec.ts';
import { memoryLogger } from '../../bake/core/log.ts';

test('privileged commands get sudo only when bake is not root', () => {
  assert.deepEqual(commandLine('losetup', ['-f'], true, false), ['sudo', '--', 'losetup', '-f']);
  assert.deepEqual(commandLine('losetup', ['-f'], true, true), ['losetup', '-f']);
  assert.deepEqual(commandLine('cp', ['a', 'b'], false, false), ['cp', 'a', 'b']);
});

test('every command is logged, quoted so it can be pasted', async () => {
  const log = memoryLogger();
  await createRunner({ log }).run('echo', ['two words', "it's"]);
  assert.deepEqual(log.lines, [`+ echo 'two words' 'it'\\''s'`]);
  assert.equal(quoteForLog(['a=b', '/x/y.raw']), 'a=b /x/y.raw');
});

test('a missing tool is a one-line tool error naming the tool, the reason and the package', async () => {
  const run = createRunner({ log: memoryLogger() });
  await assert.rejects(run.run('mksquashfs-missing', [], { why: 'build images' }), (error: unknown) => {
    assert.ok(error instanceof BakeError && error.kind === 'tool');
    assert.match(error.message, /^mksquashfs-missing not found \(needed to build images\)$/);
    return true;
  });
  await assert.rejects(run.run('lbzip2', ['-d', '/nonexistent.bz2'], {}), (error: unknown) => {
    assert.ok(error instanceof BakeError && error.kind === 'tool');
    assert.match(error.message, /^lbzip2 failed \(exit \d+\): .+/);
    return true;
  });
});

test('dry-run skips commands that change things and runs read-only ones', async () => {
  const log = memoryLogger();
  const run = createRunner({ log, dryRun: true });
  assert.equal((await run.run('touch', ['/nonexistent/dir/file'])).exitCode, 0);
  assert.equal((await run.run('echo', ['hi'], { readOnly: true })).stdout, 'hi');
  assert.deepEqual(log.lines, ['would run: touch /nonexistent/dir/file', '+ echo hi']);
});

test('an aborted signal stops a running command with the abort reason', async () => {
  const controller = new AbortController();
  const run = createRunner({ log: memoryLogger(), signal: controller.signal });
  const pending = run.run('sleep', ['10']);
  setTimeout(() => controller.abort(new BakeError('interrupted', 'interrupted by SIGINT')), 50);
  await assert.rejects(pending, (error: unknown) => error instanceof BakeError && error.kind === 'interrupted');
});

test('findTool looks on PATH only', async () => {
  assert.equal(await findTool('sh', '/bin'), '/bin/sh');
  assert.equal(await findTool('sh', '/nonexistent'), undefined);
});

test('allowFailure returns a non-zero exit but still reports timeouts and missing tools', async () => {
  const run = createRunner({ log: memoryLogger() });
  assert.equal((await run.run('sh', ['-c', 'exit 3'], { allowFailure: true })).exitCode, 3);
  await assert.rejects(run.run('sleep', ['5'], { allowFailure: true, timeoutMs: 100 }), /sleep timed out/);
  await assert.rejects(run.run('no-such-tool-x', [], { allowFailure: true }), /not found/);
});
