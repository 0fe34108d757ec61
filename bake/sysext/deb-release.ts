/**
 * Trust for a Debian suite: its Release file must carry a good signature (Release.gpg) by a key in the
 * configured keyring, and every index fetched from the suite must match the SHA256 Release lists for it.
 * The packages are then checked against the index, so the chain runs from the keyring to every file.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import { sha256File } from '../core/checksums.ts';
import { verifyError } from '../core/errors.ts';
import { verifySignature } from '../flatcar/verify.ts';

/** `SHA256:` section of a Release file: index path (relative to the suite) → hash. */
export function parseReleaseSha256(text: string): Map<string, string> {
  const hashes = new Map<string, string>();
  let inSection = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(' ')) inSection = line.trim() === 'SHA256:';
    const fields = inSection ? line.trim().split(/\s+/) : [];
    if (fields.length === 3 && /^[0-9a-f]{64}$/i.test(fields[0]!)) hashes.set(fields[2]!, fields[0]!.toLowerCase());
  }
  return hashes;
}

/** Downloads and verifies the suite's Release; returns a check for index files downloaded from the suite. */
export async function verifiedSuite(
  ctx: Context,
  suiteUrl: string,
  scratch: string,
): Promise<(indexUrl: string, file: string) => Promise<void>> {
  const release = join(scratch, 'Release');
  const signature = join(scratch, 'Release.gpg');
  await Promise.all([
    ctx.http.download(`${suiteUrl}/Release`, release),
    ctx.http.download(`${suiteUrl}/Release.gpg`, signature),
  ]);
  await verifySignature(ctx, { path: await keyringFile(ctx, scratch) }, release, signature);
  const hashes = parseReleaseSha256(await readFile(release, 'utf8'));
  return async (indexUrl, file) => {
    const path = indexUrl.slice(suiteUrl.length + 1);
    const expected = hashes.get(path);
    if (!expected || expected !== (await sha256File(file))) {
      throw verifyError(
        `${indexUrl} does not match the suite's signed Release`,
        'the mirror is stale or altered; use another mirror',
      );
    }
  };
}

/** The keyring as a local file: downloaded first when it is a URL. */
async function keyringFile(ctx: Context, scratch: string): Promise<string> {
  const keyring = ctx.endpoints.debianKeyring;
  if (!/^https?:\/\//.test(keyring)) return keyring;
  const path = join(scratch, 'debian-keyring');
  await ctx.http.download(keyring, path);
  return path;
}
