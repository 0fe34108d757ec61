/**
 * `bake --trust-cert CERT.pem [--require-signed-sysexts]`: the certificates the booted system trusts for
 * signed sysexts, installed on ROOT as /etc/verity.d/<name>.crt, and the image policy that makes
 * systemd-sysext refuse anything unsigned. The certificates are checked before anything is downloaded;
 * whether the release's systemd can honour them is read from its USR before anything is written.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { Context } from '../context.ts';
import { inputError, usageError } from '../core/errors.ts';
import { listUsrDirectories } from '../flatcar/usr-release.ts';
import {
  FLATCAR_SYSEXT_DIR,
  type PolicyFile,
  SIGNED_ONLY_POLICY,
  SYSTEMD_LIBRARY_DIRS,
  SYSTEMD_SINCE,
  signedOnlyPolicyFile,
  systemdVersionFrom,
  trustProblem,
  USR_VERITY_DIR,
} from '../flatcar/usr-systemd.ts';
import type { VerifyingCert } from '../sysext/ddi-signature.ts';

/** Where systemd looks first for verity certificates (an earlier directory's file of the same name wins). */
export const VERITY_CERT_DIR = '/etc/verity.d';

export interface TrustRequest {
  /** --trust-cert files, absolute. */
  certFiles: string[];
  requireSigned: boolean;
}

export interface TrustedCert {
  /** The file given. */
  from: string;
  /** Where it goes on ROOT, as the booted system sees it. */
  path: string;
  /** sha256 of its DER form, lowercase hex: what a DDI's signature partition names as certificateFingerprint. */
  fingerprint: string;
  notAfter: string;
  /** The certificate alone, PEM: what is installed (never any other text the file held). */
  pem: string;
}

export interface TrustPlan {
  certificates: TrustedCert[];
  requireSigned: boolean;
}

/** What the install stage wrote for the trust flags. */
export interface TrustInstalled {
  systemd: number;
  files: string[];
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const NAME = /^[\w+@-][\w.+@-]*$/;

/** The flags, checked for sense (not yet for content). */
export function parseTrustRequest(
  options: { trustCert?: string[] | undefined; requireSignedSysexts?: boolean | undefined },
  cwd: string,
): TrustRequest {
  const certFiles = (options.trustCert ?? []).map((file) => resolve(cwd, file));
  const requireSigned = options.requireSignedSysexts ?? false;
  if (requireSigned && certFiles.length === 0)
    throw usageError(
      '--require-signed-sysexts without --trust-cert would make the image refuse every sysext',
      'add --trust-cert CERT.pem with the certificate your sysexts are signed with',
    );
  return { certFiles, requireSigned };
}

/** Each certificate read and checked: one PEM X.509 certificate per file, in date, no private key beside it. */
export async function loadTrust(request: TrustRequest): Promise<TrustPlan | undefined> {
  if (request.certFiles.length === 0) return undefined;
  const certificates: TrustedCert[] = [];
  for (const file of request.certFiles) {
    const cert = await loadCertificate(file);
    if (certificates.some((other) => other.path === cert.path))
      throw usageError(
        `two --trust-cert files would both be ${cert.path}`,
        'give the certificates different file names',
      );
    certificates.push(cert);
  }
  return { certificates, requireSigned: request.requireSigned };
}

async function loadCertificate(file: string): Promise<TrustedCert> {
  const bytes = await readFile(file).catch(() => {
    throw inputError(`cannot read --trust-cert ${file}`, 'check the path');
  });
  const text = bytes.toString('latin1');
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw notPem(file, bytes);
  if (blocks.length > 1)
    throw inputError(
      `--trust-cert ${file} holds ${blocks.length} certificates, and systemd reads only the first`,
      'give the signing certificate itself, one per file (no chain)',
    );
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text))
    throw inputError(
      `--trust-cert ${file} holds a private key too, which must never go into an image`,
      'give the certificate alone (openssl x509 -in FILE -out CERT.pem)',
    );
  const cert = parseCertificate(file, blocks[0]!);
  if (new Date(cert.validTo).getTime() < Date.now())
    throw inputError(
      `--trust-cert ${file} expired on ${new Date(cert.validTo).toISOString()}`,
      'sign the sysexts with a certificate that is in date and give that one',
    );
  const name = basename(file).replace(/\.(pem|crt|cer)$/i, '');
  if (!NAME.test(name))
    throw inputError(
      `--trust-cert ${file}: its name '${name}' cannot be a file name in ${VERITY_CERT_DIR}`,
      'rename it to letters, digits and . _ + @ -',
    );
  return {
    from: file,
    path: `${VERITY_CERT_DIR}/${name}.crt`,
    fingerprint: cert.fingerprint256.replaceAll(':', '').toLowerCase(),
    notAfter: new Date(cert.validTo).toISOString(),
    pem: cert.toString(),
  };
}

/** systemd ignores a DER certificate without a word, so one is refused here rather than installed. */
function notPem(file: string, bytes: Buffer): Error {
  const der = (() => {
    try {
      return new X509Certificate(bytes) !== undefined;
    } catch {
      return false;
    }
  })();
  return der
    ? inputError(
        `--trust-cert ${file} is a DER certificate, which systemd ignores`,
        `convert it to PEM: openssl x509 -inform DER -in ${file} -out CERT.pem`,
      )
    : inputError(
        `--trust-cert ${file} is not a PEM X.509 certificate`,
        'give the certificate the sysexts are signed with',
      );
}

function parseCertificate(file: string, pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw inputError(
      `--trust-cert ${file} is not a valid X.509 certificate`,
      'check that it is the signing certificate',
    );
  }
}

/**
 * The certificates as the pre-bake check of signed DDIs takes them: the text validated here and installed
 * on ROOT, so a --trust-cert file replaced after it was read cannot make a sysext verify against other bytes.
 */
export function verifyingCerts(trust: TrustPlan | undefined): VerifyingCert[] {
  return (trust?.certificates ?? []).map(({ from, fingerprint, pem, notAfter }) => ({
    cert: from,
    fingerprint,
    pem,
    validTo: new Date(notAfter),
  }));
}

/** The policy as --dry-run shows it: its text and the two places it may go. */
export function policyPreview(): { policy: string; files: string[]; confSince: number } {
  const confSince = SYSTEMD_SINCE.sysextConfImagePolicy;
  const files = [signedOnlyPolicyFile(confSince - 1).path, signedOnlyPolicyFile(confSince).path];
  return { policy: SIGNED_ONLY_POLICY, files, confSince };
}

/**
 * The files the trust flags write on ROOT, for this release: refused (input) when its systemd cannot honour
 * them, read from its USR before anything is written.
 */
export async function trustFiles(
  ctx: Context,
  image: string,
  trust: TrustPlan,
): Promise<{ systemd: number; files: PolicyFile[] }> {
  const dirs = [...SYSTEMD_LIBRARY_DIRS, USR_VERITY_DIR, FLATCAR_SYSEXT_DIR];
  const listing = await listUsrDirectories(ctx, image, dirs);
  const facts = {
    systemd: systemdVersionFrom(SYSTEMD_LIBRARY_DIRS.flatMap((dir) => listing.get(dir) ?? [])),
    usrCertificates: (listing.get(USR_VERITY_DIR) ?? []).filter((name) => name.endsWith('.crt')),
    ownSysexts: listing.get(FLATCAR_SYSEXT_DIR) ?? [],
  };
  const request = {
    certificateNames: trust.certificates.map((cert) => basename(cert.path, '.crt')),
    requireSigned: trust.requireSigned,
  };
  const problem = trustProblem(facts, request);
  if (problem !== undefined || facts.systemd === undefined)
    throw inputError(
      `this release cannot honour ${trust.requireSigned ? '--require-signed-sysexts' : '--trust-cert'}: ${problem}`,
      'bake another release (see the README on signed sysexts), or bake without the flag',
    );
  const certs = trust.certificates.map(({ path, pem }) => ({ path, text: pem }));
  const policy = trust.requireSigned ? [signedOnlyPolicyFile(facts.systemd)] : [];
  return { systemd: facts.systemd, files: [...certs, ...policy] };
}
