/** Checks a command's --json output against its schema in docs/schemas (the contract users script against). */

import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Ajv } from 'ajv';

const SCHEMAS = resolve(import.meta.dirname, '../../docs/schemas');

// strictRequired would refuse `then: {required: [error]}`, which names a property defined beside the if.
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
for (const file of (await readdir(SCHEMAS)).filter((name) => name.endsWith('.schema.json'))) {
  ajv.addSchema(JSON.parse(await readFile(join(SCHEMAS, file), 'utf8')) as object, file);
}

export const SCHEMA_NAMES = (await readdir(SCHEMAS))
  .filter((name) => name.endsWith('.schema.json'))
  .map((name) => name.replace(/\.schema\.json$/, ''));

/** Compiles every schema (ajv compiles lazily, so a broken one would otherwise pass unnoticed until used). */
export function compileAll(): void {
  for (const name of SCHEMA_NAMES) assert.ok(ajv.getSchema(`${name}.schema.json`), name);
}

/** Parses stdout as exactly one JSON object and checks it against docs/schemas/<name>.schema.json. */
export function assertJsonOutput(name: string, stdout: string): Record<string, unknown> {
  const value = JSON.parse(stdout) as Record<string, unknown>;
  const validate = ajv.getSchema(`${name}.schema.json`);
  assert.ok(validate, `no schema docs/schemas/${name}.schema.json`);
  assert.ok(validate(value), `${name} output does not match its schema: ${ajv.errorsText(validate.errors)}\n${stdout}`);
  return value;
}
