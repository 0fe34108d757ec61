/**
 * Signature and checksum verification, failing closed. GPG runs in a private, temporary home that holds
 * only the signing key: the user's keyring is never read or written. The default Flatcar key is pinned
 * by its primary fingerprint; a key the user names is trusted as given.
 */
import { chmod, rm } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Context } from '../context.ts';
import { tempDir } from '../core/cleanup.ts';
import { ENDPOINTS, endpointSpec, endpointValue, type KeyEndpoint, PINNED_KEYS } from '../core/endpoints.ts';
import { BakeError, hasReason, verifyError } from '../core/errors.ts';
import type { RunResult } from '../core/exec.ts';
import { LIMITS } from '../net/limits.ts';

export interface SigningKey {
  /** An armored or binary OpenPGP public key file. */
  path: string;
  /** When set, the signature's primary key must have exactly this fingerprint. */
  pinnedFingerprint?: string;
  /** Whose key it is and the flag that names it, for error messages (default: Flatcar's, --signing-key). */
  owner?: string;
  flag?: string;
}

/**
 * The key an endpoint names: the user's file as given, or the download of a URL into the cache (pinned
 * to its owner's fingerprint when it is the real default). `refresh` fetches it again (a rotated subkey).
 */
export async function endpointKey(ctx: Context, endpoint: KeyEndpoint, refresh = false): Promise<SigningKey> {
  const location = endpointValue(ctx.endpoints, endpoint);
  const { owner, fingerprint } = typeof endpoint === 'string' ? PINNED_KEYS[endpoint] : endpoint.pinnedKey;
  const spec = endpointSpec(endpoint);
  const named = { owner, flag: spec.flag };
  const pinned = fingerprint && location === spec.default ? { pinnedFingerprint: fingerprint } : {};
  if (isAbsolute(location)) return { path: location, ...named, ...pinned };
  const name = location.replace(/^[a-z]+:\/\//, '').replace(/[^\w.-]+/g, '_');
  const path = join(ctx.cacheDir, 'keys', name);
  if (refresh) await rm(path, { force: true });
  await ctx.http.download(location, path, { maxBytes: LIMITS.signingKey });
  return { path, ...named, ...pinned };
}

export interface SignatureCheck {
  signingFingerprint: string;
  primaryFingerprint: string;
}

/** The status lines that mean "cryptographically good"; an expired (rotated) subkey still signed validly. */
const GOOD_STATUSES = new Set(['GOODSIG', 'EXPKEYSIG']);

export function parseGpgStatus(status: string): { good: boolean; validsig?: SignatureCheck; problem?: string } {
  let good = false;
  let validsig: SignatureCheck | undefined;
  let problem: string | undefined;
  for (const line of status.split('\n')) {
    const fields = line.replace(/^\[GNUPG:\] /, '').split(' ');
    const keyword = fields[0] ?? '';
    if (GOOD_STATUSES.has(keyword)) good = true;
    if (keyword === 'VALIDSIG')
      validsig = { signingFingerprint: fields[1] ?? '', primaryFingerprint: fields[10] ?? fields[1] ?? '' };
    if (['BADSIG', 'ERRSIG', 'NO_PUBKEY', 'REVKEYSIG', 'NODATA'].includes(keyword)) problem ??= keyword;
  }
  return {
    good: good && validsig !== undefined && problem === undefined,
    ...(validsig ? { validsig } : {}),
    ...(problem ? { problem } : {}),
  };
}

const PROBLEM_TEXT: Record<string, string> = {
  BADSIG: 'the signature does not match the file (corrupt or tampered)',
  ERRSIG: 'the signature was made by a key that is not the signing key',
  NO_PUBKEY: 'the signature was made by a key that is not the signing key',
  REVKEYSIG: 'the signing key was revoked',
  NODATA: 'the signature file is not an OpenPGP signature',
};

/** Problems that mean the key bake holds does not know the signer (a rotated subkey, or a stranger's key). */
const UNKNOWN_SIGNER = new Set(['ERRSIG', 'NO_PUBKEY']);

type Gpg = (args: string[], allowFailure?: boolean, input?: Readable) => Promise<RunResult>;

/**
 * gpg confined to `home`. Checking signatures needs no secret keys, so no gpg-agent is started: none
 * is left running per check, and none outlives the temporary home.
 */
function gpgIn(ctx: Context, home: string): Gpg {
  return (args, allowFailure = false, input) =>
    ctx.run.run('gpg', ['--batch', '--no-tty', '--no-autostart', '--homedir', home, ...args], {
      readOnly: true,
      allowFailure,
      why: 'verify release signatures',
      input,
    });
}

/** Fingerprints of the primary keys in the keyring. */
async function primaryFingerprints(gpg: Gpg): Promise<string[]> {
  const { stdout } = await gpg(['--with-colons', '--fingerprint', '--list-keys']);
  const fingerprints: string[] = [];
  let afterPrimary = false;
  for (const line of stdout.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === 'pub') afterPrimary = true;
    else if (fields[0] === 'fpr' && afterPrimary) {
      fingerprints.push(fields[9] ?? '');
      afterPrimary = false;
    } else if (fields[0] === 'sub') afterPrimary = false;
  }
  return fingerprints;
}

/**
 * Checks `signature` over `file`, or over `data` when given: the bytes of `file` as they are being
 * downloaded, so the check costs no time after the download.
 */
export async function verifySignature(
  ctx: Context,
  key: SigningKey,
  file: string,
  signature: string,
  data?: Readable,
): Promise<SignatureCheck> {
  await using home = await tempDir('bake-gpg');
  await chmod(home.path, 0o700);
  const gpg = gpgIn(ctx, home.path);
  const imported = await gpg(['--import', key.path], true);
  const trusted = imported.exitCode === 0 ? await primaryFingerprints(gpg) : [];
  const flag = key.flag ?? ENDPOINTS.signingKey.flag;
  if (trusted.length === 0) throw verifyError(`${key.path} holds no usable OpenPGP public key`, `check ${flag}`);
  if (key.pinnedFingerprint && !trusted.includes(key.pinnedFingerprint)) {
    const owner = key.owner ?? PINNED_KEYS.signingKey.owner;
    throw verifyError(
      `the key at ${key.path} is not ${owner} (${key.pinnedFingerprint})`,
      `check ${flag} or the mirror`,
    );
  }
  const { stdout } = await gpg(['--status-fd', '1', '--verify', signature, data ? '-' : file], true, data);
  const result = parseGpgStatus(stdout);
  const name = basename(file);
  if (!result.good || !result.validsig) {
    const message = `bad signature on ${name}: ${PROBLEM_TEXT[result.problem ?? ''] ?? 'gpg did not report a good signature'}`;
    const reason = UNKNOWN_SIGNER.has(result.problem ?? '') ? 'unknown-signer' : undefined;
    throw new BakeError(
      'verify',
      message,
      'the download was deleted from the cache; retry, or check the mirror',
      reason,
    );
  }
  const primary = result.validsig.primaryFingerprint;
  const allowed = key.pinnedFingerprint ? [key.pinnedFingerprint] : trusted;
  if (!allowed.includes(primary))
    throw verifyError(`${name} is signed by ${primary}, not by the signing key`, `check ${flag}`);
  return result.validsig;
}

/**
 * Checks a signature with the key an endpoint names. Signing subkeys rotate (Flatcar's yearly): when the
 * cached download of the key does not know the signer, the key is fetched once more.
 */
export async function verifyWithEndpointKey(
  ctx: Context,
  endpoint: KeyEndpoint,
  file: string,
  sig: string,
): Promise<void> {
  try {
    await verifySignature(ctx, await endpointKey(ctx, endpoint), file, sig);
  } catch (error) {
    if (!hasReason(error, 'unknown-signer') || isAbsolute(endpointValue(ctx.endpoints, endpoint))) throw error;
    await verifySignature(ctx, await endpointKey(ctx, endpoint, true), file, sig);
  }
}
