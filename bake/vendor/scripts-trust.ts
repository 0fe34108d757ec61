/**
 * When bake runs a file from flatcar/scripts (the SDK route's tarball, the native route's qemu launcher),
 * nothing Flatcar signs covers it, so it must match a pin: the launcher's SHA-256, the tarball's git tree
 * (what it holds, since GitHub may compress the same tree to other bytes), or a SHA-256 the user names. Plain
 * HTTP and files nobody vouches for need --insecure-scripts, and an unchecked file is never cached.
 */
import { createHash } from 'node:crypto';
import { usageError, verifyError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

export interface ScriptsTrust {
  /** --scripts-sha256: the digest of the file this run executes, instead of the pinned ones. */
  sha256?: string;
  /**
   * The git tree the SDK route's tarball must hold, instead of the pinned one; like sha256 it always holds.
   * No flag sets it yet: tests pin their stand-in tarballs with it.
   */
  tree?: string;
  /** --insecure-scripts: allow plain HTTP and run, with a warning, what no digest vouches for. */
  insecure: boolean;
}

export const PINNED_ONLY: ScriptsTrust = { insecure: false };

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function parseScriptsTrust(options: { scriptsSha256?: string; insecureScripts?: boolean }): ScriptsTrust {
  const sha256 = options.scriptsSha256?.trim().toLowerCase();
  if (sha256 !== undefined && !SHA256_HEX.test(sha256)) {
    throw usageError(
      `--scripts-sha256 '${options.scriptsSha256}' is not a SHA-256`,
      'give the 64 hex digits `sha256sum` prints',
    );
  }
  return { insecure: options.insecureScripts ?? false, ...(sha256 ? { sha256 } : {}) };
}

/** Refuses a plain-HTTP source of executed code before anything is fetched from it. */
export function requireSecureSource(url: string, what: string, trust: ScriptsTrust): void {
  if (trust.insecure || !/^http:/i.test(url)) return;
  throw usageError(
    `${what} would come over plain HTTP (${url}), and bake runs it`,
    'use an https:// or local mirror, or pass --insecure-scripts',
  );
}

/** The digests that may vouch for a file: the user's one, else the pinned ones. */
export function expectedDigests(trust: ScriptsTrust, pinned: Iterable<string>): string[] {
  return trust.sha256 ? [trust.sha256] : [...pinned];
}

/** What a digest measures: a file's bytes, or the content of an unpacked tree as git hashes it. */
export type Measure = 'sha256' | 'git tree';

const NAMED_BY_USER: Record<Measure, (trust: ScriptsTrust) => string | undefined> = {
  sha256: (trust) => trust.sha256,
  'git tree': (trust) => trust.tree,
};

const UNPINNED_HINT: Record<Measure, string> = {
  sha256: 'pass --scripts-sha256 <its sha256> once you have checked it against the signed flatcar/scripts tag',
  'git tree': "the download does not hold the signed tag's files; check the mirror (--scripts-tarball-url)",
};

/**
 * 'verified' when `actual` is expected. Otherwise a verify error, except that --insecure-scripts runs a
 * file no pin vouches for ('unchecked': the caller must not cache it); a digest the user named always holds.
 */
export function judgeDigest(
  what: string,
  actual: string,
  expected: readonly string[],
  trust: ScriptsTrust,
  log: Logger,
  measure: Measure = 'sha256',
): 'verified' | 'unchecked' {
  if (expected.includes(actual)) return 'verified';
  const named = NAMED_BY_USER[measure](trust) !== undefined;
  if (!named && trust.insecure) {
    log.warn(`running ${what} unverified (${measure} ${actual}) because of --insecure-scripts`);
    return 'unchecked';
  }
  const wanted = expected.length === 1 ? expected[0] : 'one of the pinned digests';
  throw verifyError(
    `${what} has ${measure} ${actual}, expected ${wanted}`,
    named ? 'the download is not what you named; check the mirror' : UNPINNED_HINT[measure],
  );
}

export function sha256Text(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
