/** A command whose result is a failure prints it in one object, with the error the CLI then does not print again. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BootReport } from '../../bake/boot/check.ts';
import { printJson, reportedInJson } from '../../bake/commands/json-output.ts';
import { verifyError } from '../../bake/core/errors.ts';
import { assertJsonOutput } from '../support/json-schemas.ts';

function captured(print: () => void): string {
  const chunks: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => chunks.push(chunk) > 0) as typeof process.stdout.write;
  try {
    print();
  } finally {
    process.stdout.write = write;
  }
  return chunks.join('');
}

const report = (pass: boolean): BootReport => ({
  pass,
  accel: 'tcg',
  seconds: 42,
  sysextStatus: [],
  sysextLog: [],
  serialTail: [],
  extensions: [{ name: 'hello', merged: pass, units: [], pass }],
});

test('a failed boot check: one object with the report and the error, which counts as printed', () => {
  const failure = verifyError('boot check failed: hello: not merged', 'see the report');
  const output = assertJsonOutput(
    'boot-check',
    captured(() => printJson({ report: report(false) }, failure)),
  );
  assert.equal(output.ok, false);
  assert.deepEqual(output.error, {
    kind: 'verify',
    message: 'boot check failed: hello: not merged',
    hint: 'see the report',
    exitCode: 6,
  });
  assert.equal(reportedInJson(failure), true);
});

test('a passed boot check: ok and no error', () => {
  const output = assertJsonOutput(
    'boot-check',
    captured(() => printJson({ report: report(true) })),
  );
  assert.equal(output.ok, true);
  assert.equal('error' in output, false);
  assert.equal(reportedInJson(verifyError('another')), false);
});
