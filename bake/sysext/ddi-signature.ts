/**
 * A DDI's root-hash signature checked as systemd checks it in userspace (dissect-image.c): PKCS7_verify of
 * the lowercase root-hash string against the trusted certificates only (NOINTERN: never a certificate the
 * signature carries) and without a chain (NOVERIFY: so validity dates are not checked either; an expired
 * certificate still verifies, with a warning here). `openssl smime -verify` is that call. bake also holds
 * the JSON's certificateFingerprint to the certificate that verified, which systemd does not read.
 */
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import { tempDir } from '../core/cleanup.ts';
import { inputError, verifyError } from '../core/errors.ts';
import type { DdiSignature } from './ddi-layout.ts';

export interface SignedBy {
  cert: string;
  /** sha256 of the certificate's DER, lowercase hex (what certificateFingerprint holds). */
  fingerprint: string;
}

/**
 * A certificate read and parsed once: the signature is checked against this text, never against its file
 * again, so a file replaced after it was checked cannot change what verifies.
 */
export interface VerifyingCert extends SignedBy {
  /** The certificate alone, PEM. */
  pem: string;
  validTo: Date;
}

/** systemd reads PEM only and ignores anything else without a word, so a DER or junk file is refused here. */
export async function loadCert(path: string): Promise<VerifyingCert> {
  const text = await readFile(path, 'latin1').catch(() => {
    throw inputError(`cannot read the certificate ${path}`, 'name a PEM certificate file');
  });
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw inputError(
      `${path} is not a PEM certificate`,
      'systemd reads only PEM: convert it with openssl x509 -outform PEM',
    );
  try {
    const cert = new X509Certificate(text);
    return {
      cert: path,
      fingerprint: cert.fingerprint256.replaceAll(':', '').toLowerCase(),
      pem: cert.toString(),
      validTo: new Date(cert.validTo),
    };
  } catch {
    throw inputError(`${path} is not a valid X.509 certificate`, 'name the PEM certificate the DDI was signed with');
  }
}

/** The certificate (of `certs`) that the signature verifies against; a verify error when none does. */
export async function verifyRootHashSignature(
  ctx: Context,
  image: string,
  signature: DdiSignature,
  certs: readonly VerifyingCert[],
): Promise<SignedBy> {
  await using work = await tempDir('bake-ddi-signature');
  const content = join(work.path, 'roothash');
  const der = join(work.path, 'signature.p7s');
  const trusted = join(work.path, 'trusted.pem');
  await writeFile(content, signature.rootHash);
  await writeFile(der, Buffer.from(signature.signature, 'base64'));
  for (const cert of certs) {
    await writeFile(trusted, cert.pem);
    const result = await ctx.run.run(
      'openssl',
      [
        'smime',
        '-verify',
        '-binary',
        '-inform',
        'DER',
        '-in',
        der,
        '-content',
        content,
        '-certfile',
        trusted,
        '-nointern',
        '-noverify',
        '-out',
        '/dev/null',
      ],
      { readOnly: true, allowFailure: true, why: 'verify signed DDI sysexts' },
    );
    if (result.exitCode !== 0) continue;
    if (signature.certificateFingerprint && signature.certificateFingerprint !== cert.fingerprint)
      throw verifyError(
        `${image}: signed by ${cert.cert}, but its signature JSON names certificate ${signature.certificateFingerprint}`,
        'rebuild the DDI: its signature partition is inconsistent',
      );
    if (cert.validTo.getTime() < Date.now())
      ctx.log.warn(`${cert.cert} expired on ${cert.validTo.toISOString()}; systemd does not check that, but renew it`);
    return { cert: cert.cert, fingerprint: cert.fingerprint };
  }
  throw verifyError(
    `${image}: its signature does not verify against ${certs.map((cert) => cert.cert).join(', ')}`,
    'it was signed with another key, or changed after signing: pass the right --cert, or get the image again',
  );
}
