/**
 * Issue 20 item 2 for the sysext checks (`bake sysext lint`, and the inspection before a bake): links
 * inside the sysext are resolved inside it, so a sysext whose files link to host paths makes bake read
 * nothing from the host.
 */

import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { test } from 'node:test';
import { createContext } from '../../bake/context.ts';
import { BakeError } from '../../bake/core/errors.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { inspectSysext } from '../../bake/image/sysext-file.ts';
import { formatFindings, lintTree } from '../../bake/sysext/lint.ts';
import { hostCanary } from '../support/canary.ts';
import { fixtureRunner } from '../support/fixtures/run.ts';
import { withTempDir } from '../support/fixtures.ts';

test('an extension-release that links to a host file is not read from the host', async (t) => {
  const canary = await hostCanary(t);
  await writeFile(canary.victim, 'ID=_any\nARCHITECTURE=x86-64\n');
  const tree = await withTempDir(t, 'bake-lint-tree');
  await mkdir(join(tree, 'usr/lib/extension-release.d'), { recursive: true });
  await symlink(canary.victim, join(tree, 'usr/lib/extension-release.d/extension-release.hello'));
  const findings = formatFindings(await lintTree(tree, { name: 'hello', arch: 'x86-64' }));
  assert.ok(
    findings.some((line) => /extension-release file cannot be read inside the image/.test(line)),
    findings.join('\n'),
  );
});

test('an Exec command under a directory that links to a host directory is looked up inside the image', async (t) => {
  const tree = await withTempDir(t, 'bake-lint-tree');
  await mkdir(join(tree, 'usr/lib/extension-release.d'), { recursive: true });
  await writeFile(join(tree, 'usr/lib/extension-release.d/extension-release.hello'), 'ID=_any\n');
  await mkdir(join(tree, 'usr/lib/systemd/system'), { recursive: true });
  const command = `/opt/hello/${basename(process.execPath)}`;
  await writeFile(join(tree, 'usr/lib/systemd/system/hello.service'), `[Service]\nExecStart=${command}\n`);
  await mkdir(join(tree, 'opt'), { recursive: true });
  // The directory holding the running node exists on the host, never in the image: looked up on the host, it would pass.
  await symlink(dirname(process.execPath), join(tree, 'opt/hello'));
  const findings = formatFindings(await lintTree(tree, { name: 'hello' }));
  assert.ok(
    findings.some((line) => line.includes(`ExecStart=${command} exists neither in the image`)),
    findings.join('\n'),
  );
});

test('inspecting a sysext whose extension-release links to a host file refuses it instead of reading the host', async (t) => {
  const canary = await hostCanary(t);
  await writeFile(canary.victim, 'ID=_any\nARCHITECTURE=x86-64\n');
  const dir = await withTempDir(t, 'bake-inspect-tree');
  const tree = join(dir, 'tree');
  await mkdir(join(tree, 'usr/lib/extension-release.d'), { recursive: true });
  await symlink(canary.victim, join(tree, 'usr/lib/extension-release.d/extension-release.hello'));
  const image = join(dir, 'hello.raw');
  await fixtureRunner().run('mksquashfs', [tree, image, '-all-root', '-noappend', '-quiet']);
  const ctx = createContext({ log: memoryLogger(), cacheDir: join(dir, 'cache') });
  await assert.rejects(
    inspectSysext(ctx, image, { name: 'hello', arch: 'x86-64' }),
    (e: unknown) => e instanceof BakeError && e.kind === 'input',
  );
});
