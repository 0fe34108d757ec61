/**
 * What `--verity`, `--sign`, `--key` and `--cert` ask for, checked before anything is built or downloaded,
 * and the signature itself: a detached PKCS#7 of the root hash, as systemd checks it.
 */
import { createHash, createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import { inputError, toolError, usageError } from '../core/errors.ts';
import { findTool } from '../core/exec.ts';
import { IMAGE_FORMATS, type ImageFormat } from './image.ts';

/** The key and certificate files a signed DDI is made with. */
export interface SigningFiles {
  key: string;
  cert: string;
}

/** A verity DDI instead of a bare filesystem image; signed when `signing` is given. */
export interface DdiRequest {
  signing?: SigningFiles;
}

/** Signing material that passed every check, with what the signature partition names. */
export interface CheckedSigning extends SigningFiles {
  /** sha256 of the certificate's DER encoding, lowercase hex. */
  certificateFingerprint: string;
}

export interface CheckedDdi {
  signing?: CheckedSigning;
}

export interface DdiFlags {
  verity?: boolean;
  sign?: boolean;
  key?: string;
  cert?: string;
}

const DDI_PAYLOADS = Object.entries(IMAGE_FORMATS)
  .filter(([, spec]) => spec.ddiPayload)
  .map(([format]) => format);

/** Host tools a DDI needs: the hash tree, the partition table, and (signed) the signature. */
const DDI_TOOLS = ['veritysetup', 'sgdisk'];

/** The flags as a request: `--sign` implies `--verity` and needs both files; the files need `--sign`. */
export function ddiFromFlags(flags: DdiFlags): DdiRequest | undefined {
  if (flags.sign) {
    if (!flags.key || !flags.cert)
      throw usageError(`--sign needs ${flags.key ? '--cert' : '--key'}`, 'give --key KEY.pem --cert CERT.pem');
    return { signing: { key: flags.key, cert: flags.cert } };
  }
  if (flags.key !== undefined || flags.cert !== undefined)
    throw usageError(`${flags.key !== undefined ? '--key' : '--cert'} is only used to sign`, 'add --sign');
  return flags.verity ? {} : undefined;
}

/** Every refusal a signed or verity build can meet, before the build starts. */
export async function checkDdi(request: DdiRequest, format: ImageFormat, now = new Date()): Promise<CheckedDdi> {
  if (!IMAGE_FORMATS[format].ddiPayload)
    throw usageError(
      `--verity and --sign take a ${DDI_PAYLOADS.join(' or ')} payload, not ${format}`,
      `use --format ${DDI_PAYLOADS.join(' or --format ')}`,
    );
  const tools = request.signing ? [...DDI_TOOLS, 'openssl'] : DDI_TOOLS;
  for (const tool of tools) {
    if (!(await findTool(tool)))
      throw toolError(`${tool} not found (needed to build verity sysexts)`, 'install it, or drop --verity/--sign');
  }
  return request.signing ? { signing: await checkSigning(request.signing, now) } : {};
}

/** The key is a private key, the certificate a PEM one for that key, valid now. */
export async function checkSigning(files: SigningFiles, now: Date): Promise<CheckedSigning> {
  const key = privateKey(await readInput(files.key, '--key'), files.key);
  const cert = pemCertificate(await readInput(files.cert, '--cert'), files.cert);
  if (!cert.checkPrivateKey(key))
    throw inputError(
      `--cert ${files.cert} is not the certificate of --key ${files.key}`,
      'give the certificate made for this key',
    );
  const [from, until] = [new Date(cert.validFrom), new Date(cert.validTo)];
  // An unreadable date must not pass as valid: every comparison with NaN is false.
  if (Number.isNaN(from.getTime()) || Number.isNaN(until.getTime()))
    throw inputError(
      `--cert ${files.cert} has validity dates that cannot be read`,
      'give a standard X.509 certificate',
    );
  if (now < from || now > until)
    throw inputError(
      `--cert ${files.cert} is ${now < from ? 'not valid yet' : 'expired'} (valid ${from.toISOString()} to ${until.toISOString()})`,
      'renew the certificate',
    );
  return { ...files, certificateFingerprint: createHash('sha256').update(cert.raw).digest('hex') };
}

async function readInput(path: string, flag: string): Promise<Buffer> {
  return readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw inputError(`cannot read ${flag} ${path} (${error.code ?? error.message})`, 'check the path');
  });
}

function privateKey(pem: Buffer, path: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    throw inputError(
      `--key ${path} is not a private key in PEM`,
      'give an unencrypted PEM private key (e.g. from openssl genpkey)',
    );
  }
}

/** PEM only: systemd reads verity certificates in PEM and silently ignores DER ones. */
function pemCertificate(pem: Buffer, path: string): X509Certificate {
  const hint = 'give a PEM certificate (-----BEGIN CERTIFICATE-----)';
  if (!pem.toString('latin1').includes('-----BEGIN CERTIFICATE-----'))
    throw inputError(`--cert ${path} is not a PEM certificate`, hint);
  try {
    return new X509Certificate(pem);
  } catch {
    throw inputError(`--cert ${path} is not a readable PEM certificate`, hint);
  }
}

/**
 * A detached PKCS#7 (DER) of the lowercase hex root hash, without newline: what systemd verifies.
 * `-noattr` leaves out the signed attributes (signing time above all), so with an RSA key the signature,
 * PKCS#1 v1.5 and deterministic, is the same bytes on every build. (ECDSA signatures are random per run.)
 */
export async function signRootHash(
  ctx: Context,
  signing: CheckedSigning,
  rootHash: string,
  scratch: string,
): Promise<Buffer> {
  const [input, output] = [join(scratch, 'roothash'), join(scratch, 'roothash.p7s')];
  await writeFile(input, rootHash);
  const args = ['cms', '-sign', '-binary', '-noattr', '-outform', 'DER', '-md', 'sha256'];
  const files = ['-signer', signing.cert, '-inkey', signing.key, '-in', input, '-out', output];
  await ctx.run.run('openssl', [...args, ...files], { why: 'sign the root hash of verity sysexts' });
  return readFile(output);
}
