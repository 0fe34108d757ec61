/**
 * The Ignition config a boot passes to the guest: the user's (--ignition, or --butane through the real
 * butane), else one bake generates like `bakery.sh boot` does: the --serve'd extensions fetched from the
 * built-in server, update-engine and locksmithd masked so a try-out does not update itself, and the
 * user's SSH public keys for user core (as Flatcar's qemu launcher adds them).
 */
import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import type { Context } from '../context.ts';
import { sha256File } from '../core/checksums.ts';
import { inputError } from '../core/errors.ts';
import { type IgnitionConfig, mergeIgnition, toIgnition } from '../provision/ignition.ts';
import { mergeProvisioning, type Provisioning } from '../provision/model.ts';
import { sysextProvisioning } from '../provision/sysexts.ts';

export interface ServedExtension {
  name: string;
  path: string;
}

export function parseServe(text: string): ServedExtension {
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1)
    throw inputError(`cannot read --serve '${text}'`, 'use name:file, e.g. --serve docker:docker-27.3.1-x86-64.raw');
  return { name: text.slice(0, colon), path: text.slice(colon + 1) };
}

export async function readUserIgnition(
  ctx: Context,
  source: { ignition?: string | undefined; butane?: string | undefined },
): Promise<IgnitionConfig | undefined> {
  if (source.ignition) {
    const text = await readFile(source.ignition, 'utf8').catch(() => {
      throw inputError(`cannot read Ignition config ${source.ignition}`);
    });
    try {
      return JSON.parse(text) as IgnitionConfig;
    } catch {
      throw inputError(
        `${source.ignition} is not JSON`,
        'give an Ignition config (.ign), or a Butane file with --butane',
      );
    }
  }
  if (source.butane) {
    const { stdout } = await ctx.run.run('butane', ['--strict', source.butane], {
      why: 'turn --butane into Ignition',
      readOnly: true,
    });
    return JSON.parse(stdout) as IgnitionConfig;
  }
  return undefined;
}

/** The public keys in ~/.ssh, as Flatcar's qemu launcher collects them. */
export async function userSshKeys(home = homedir()): Promise<string[]> {
  const dir = join(home, '.ssh');
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => /^id_.*\.pub$/.test(name)).sort();
  const keys = await Promise.all(
    names.map((name) =>
      readFile(join(dir, name), 'utf8').then(
        (text) => text.trim(),
        () => '',
      ),
    ),
  );
  return keys.filter(Boolean);
}

const TRY_OUT_MASKS = ['update-engine.service', 'locksmithd.service'];

/** The --serve'd extensions, placed and linked like `bake ignition` does, fetched from the built-in server. */
export async function servedProvisioning(served: readonly ServedExtension[], guestUrl: string): Promise<Provisioning> {
  const extensions = await Promise.all(
    served.map(async (extension) => ({
      name: extension.name,
      file: basename(extension.path),
      url: `${guestUrl}/${encodeURIComponent(basename(extension.path))}`,
      sha256: await sha256File(extension.path),
    })),
  );
  return sysextProvisioning(extensions, { bakeryUrl: guestUrl });
}

/** What bake adds when the user gives no config: no self-updates during a try-out, and SSH access. */
export function tryOutProvisioning(sshKeys: readonly string[]): Provisioning {
  return {
    files: [],
    links: [],
    units: TRY_OUT_MASKS.map((name) => ({ name, mask: true })),
    users: sshKeys.length > 0 ? [{ name: 'core', sshAuthorizedKeys: [...sshKeys] }] : [],
  };
}

/** The user's config with the served extensions added, or bake's own try-out config with them. */
export async function bootIgnition(
  user: IgnitionConfig | undefined,
  served: Provisioning,
  sshKeys: readonly string[],
): Promise<IgnitionConfig> {
  if (user) return mergeIgnition(user, toIgnition(served));
  return toIgnition(mergeProvisioning(tryOutProvisioning(sshKeys), served));
}
