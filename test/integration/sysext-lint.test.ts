/** Each lint rule on a small tree: the bakery bugs it exists to catch (bird's drop-in, keepalived's sbin). */

import assert from 'node:assert/strict';
import { chown, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { lintTree } from '../../bake/sysext/lint.ts';
import { standInElf } from '../support/fixtures/upstream-elf.ts';

async function tree(files: Record<string, string | Buffer | { link: string }>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'sysext-lint-'));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    if (typeof content === 'object' && 'link' in content) await symlink(content.link, join(root, path));
    else await writeFile(join(root, path), content);
  }
  return root;
}

const release = { 'usr/lib/extension-release.d/extension-release.demo': 'ID=_any\nARCHITECTURE=x86-64\n' };

test('a clean tree has no findings; symlinked and Flatcar commands count as existing', async () => {
  const root = await tree({
    ...release,
    'usr/bin/demo': standInElf('x86-64', 'demo'),
    'usr/bin/demo-link': { link: '/usr/bin/demo' },
    'usr/lib/systemd/system/demo.service':
      '[Service]\nExecStartPre=-/sbin/modprobe br_netfilter\nExecStart=/usr/bin/demo-link $OPTS\nExecStop=/bin/kill $MAINPID\n',
    'usr/lib/systemd/system/multi-user.target.d/10-demo.conf': '[Unit]\nUpholds=demo.service\n',
  });
  try {
    assert.deepEqual(await lintTree(root, { name: 'demo', arch: 'x86-64' }), []);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('every rule fires on the mistakes it names', async () => {
  const root = await tree({
    'usr/lib/extension-release.d/extension-release.demo': 'ARCHITECTURE=arm64\n',
    'etc/demo.conf': 'x\n',
    'usr/sbin/keepalived': standInElf('x86-64', 'k'),
    'usr/lib/systemd/system/multi-user.target.d/bird.service': '[Unit]\nUpholds=bird.service\n',
    'usr/lib/systemd/system/bird.service': '[Service]\nExecStart=/usr/sbin/bird\nExecStartPost=relative\n',
    'usr/bin/other': 'plain text\n',
  });
  try {
    await chown(join(root, 'usr/bin/other'), 1000, 1000);
    const findings = await lintTree(root, { name: 'demo' });
    const rules = findings.map((f) => `${f.rule} ${f.path}`);
    assert.deepEqual(rules.sort(), [
      'drop-in-suffix usr/lib/systemd/system/multi-user.target.d/bird.service',
      'elf-arch usr/sbin/keepalived',
      'exec-path usr/lib/systemd/system/bird.service',
      'exec-path usr/lib/systemd/system/bird.service',
      'extension-release usr/lib/extension-release.d/extension-release.demo',
      'owner usr/bin/other',
      'top-level etc',
      'usr-sbin usr/sbin',
      'usr-sbin usr/sbin/keepalived',
    ]);
    assert.match(findings.find((f) => f.rule === 'extension-release')!.message, /ID= is missing/);
    assert.deepEqual(
      await lintTree(root, { name: 'other' }).then((f) =>
        f.filter((x) => x.rule === 'extension-release').map((x) => x.message),
      ),
      ["no extension-release for 'other' (systemd-sysext matches it to the image name)"],
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
