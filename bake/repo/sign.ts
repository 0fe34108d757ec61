/**
 * `bake repo sign`: detached GPG signatures (`SHA256SUMS.gpg`) next to every manifest, which is what
 * systemd-sysupdate checks with Verify=yes against /etc/systemd/import-pubring.gpg
 * (docs/flatcar-facts.md §6). Metadata manifests are re-signed every time (their content changes);
 * a release's own manifest never changes, so it is signed once.
 */
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import { CleanupStack, tempDir } from '../core/cleanup.ts';
import { inputError } from '../core/errors.ts';
import { readRepository, replaceFile, SIGNATURE, SUMS } from './layout.ts';

export interface SigningKey {
  /** A secret key file (armored or binary) or a key ID / fingerprint / user ID in the GnuPG home. */
  key: string;
  /** GnuPG home for a key ID; default: gpg's own ($GNUPGHOME or ~/.gnupg). */
  homedir?: string;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Signs the repository's manifests; returns the signatures written, relative to the repo. */
export async function signRepository(ctx: Context, repoDir: string, signingKey: SigningKey): Promise<string[]> {
  if (!(await exists(join(repoDir, SUMS)))) {
    throw inputError(`${repoDir} has no ${SUMS}`, 'run `bake repo build` first');
  }
  const metadata = [SUMS, ...(await metadataManifests(repoDir))];
  const releases = (await readRepository(repoDir)).map((release) => join(release.tag, SUMS));
  const unsignedReleases = [];
  for (const manifest of releases)
    if (!(await exists(join(repoDir, `${manifest}.gpg`)))) unsignedReleases.push(manifest);
  const manifests = [...metadata, ...unsignedReleases];
  if (ctx.dryRun) {
    for (const manifest of manifests) ctx.log.info(`would sign ${manifest}`);
    return [];
  }
  await withSigner(ctx, signingKey, async (gpgArgs) => {
    for (const manifest of manifests) {
      const output = join(repoDir, manifest.replace(/SHA256SUMS$/, SIGNATURE));
      // gpg --output writes through a link planted at the signature's name; a fresh file renamed there cannot.
      await replaceFile(output, (temporary) =>
        ctx.run.run('gpg', [...gpgArgs, '--batch', '--detach-sign', '--output', temporary, join(repoDir, manifest)], {
          why: 'sign SHA256SUMS for Verify=yes',
        }),
      );
    }
  });
  return manifests.map((manifest) => manifest.replace(/SHA256SUMS$/, SIGNATURE));
}

/** `<name>/SHA256SUMS` of every extension (directories that are not releases). */
async function metadataManifests(repoDir: string): Promise<string[]> {
  const releaseTags = new Set((await readRepository(repoDir)).map((release) => release.tag));
  const entries = await readdir(repoDir, { withFileTypes: true });
  const manifests: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith('.') || releaseTags.has(entry.name)) continue;
    if (await exists(join(repoDir, entry.name, SUMS))) manifests.push(join(entry.name, SUMS));
  }
  return manifests.sort();
}

/**
 * A key file is imported into a throw-away GnuPG home, so signing never touches the user's keyring;
 * a key ID is used from the given (or default) home.
 */
async function withSigner(
  ctx: Context,
  signingKey: SigningKey,
  sign: (gpgArgs: string[]) => Promise<void>,
): Promise<void> {
  if (!(await exists(signingKey.key))) {
    const home = signingKey.homedir ? ['--homedir', signingKey.homedir] : [];
    await sign([...home, '--local-user', signingKey.key]);
    return;
  }
  await using cleanup = new CleanupStack(ctx.log);
  const home = await tempDir('bake-gpg');
  cleanup.defer('remove the temporary GnuPG home', async () => {
    await home[Symbol.asyncDispose]();
  });
  // gpg starts an agent for the home; it must not outlive the command.
  cleanup.defer('stop the temporary gpg-agent', async () => {
    await ctx.run.run('gpgconf', ['--homedir', home.path, '--kill', 'gpg-agent'], {
      uncancellable: true,
      allowFailure: true,
    });
  });
  await ctx.run.run('gpg', ['--homedir', home.path, '--batch', '--import', signingKey.key], {
    why: 'import the signing key',
  });
  const { stdout } = await ctx.run.run(
    'gpg',
    ['--homedir', home.path, '--batch', '--with-colons', '--list-secret-keys'],
    {
      readOnly: true,
      why: 'find the imported signing key',
    },
  );
  const fingerprint = /^fpr:+([0-9A-F]{40,64}):/m.exec(stdout)?.[1];
  if (!fingerprint)
    throw inputError(`${signingKey.key} holds no secret key`, 'export it with `gpg --export-secret-keys --armor KEY`');
  await sign(['--homedir', home.path, '--local-user', fingerprint]);
}
