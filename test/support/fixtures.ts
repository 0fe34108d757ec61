/**
 * One-call fixtures for tests: a signed release mirror served over HTTP, a signing key, a Flatcar disk,
 * a temp dir. Each registers one cleanup with the test (`t.after`) that releases what it made in
 * reverse order (node runs `after` hooks first-in first-out), so nothing outlives the test, even when it
 * fails. Outside a test body pass `{ after }` from node:test.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { type DiskLayout, type DiskOptions, makeFlatcarDisk } from './fixtures/disk-image.ts';
import { createSigningKey, type SigningKey, type SigningKeyOptions } from './fixtures/gpg.ts';
import {
  bakeEnv,
  buildReleaseMirror,
  type ReleaseMirrorManifest,
  type ReleaseMirrorOptions,
} from './fixtures/release-tree.ts';
import { type Mirror, startMirror } from './mirror.ts';

/** Anything that runs a function when the test is over: a TestContext, or `{ after }` from node:test. */
export interface CleanupHost {
  after(fn: () => unknown): void;
}

/** The variables that point bake at the mirror (see bake/core/endpoints.ts), plus a private cache. */
export interface FixtureEnv {
  BAKE_RELEASE_URL: string;
  BAKE_RELEASES_JSON: string;
  BAKE_SIGNING_KEY: string;
  BAKE_BAKERY_URL: string;
  BAKE_CACHE_DIR: string;
  [name: string]: string;
}

export interface ReleaseMirrorFixture {
  mirror: Mirror;
  manifest: ReleaseMirrorManifest;
  env: FixtureEnv;
  key: SigningKey;
  /** A scratch directory of the test's own, removed afterwards (the cache is inside it). */
  scratch: string;
}

export type ReleaseMirrorFixtureOptions = Omit<ReleaseMirrorOptions, 'key' | 'bakeryUrl'> & SigningKeyOptions;

/** A temp directory removed when the test ends. */
export async function withTempDir(t: CleanupHost, prefix = 'bake-test'): Promise<string> {
  const dir = await makeTempDir(prefix);
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const makeTempDir = (prefix: string) => mkdtemp(join(tmpdir(), `${prefix}-`));

/** A fresh signing key; its gpg-agent is stopped and its files removed when the test ends. */
export async function withSigningKey(t: CleanupHost, options: SigningKeyOptions = {}): Promise<SigningKey> {
  const dir = await makeTempDir('bake-key');
  let key: SigningKey | undefined;
  t.after(async () => {
    await key?.close();
    await rm(dir, { recursive: true, force: true });
  });
  key = await createSigningKey(dir, options);
  return key;
}

/** An empty GNUPGHOME, e.g. a verifier's fresh keyring; any gpg-agent started in it is stopped at the end. */
export async function withGnupgHome(t: CleanupHost): Promise<string> {
  const dir = await makeTempDir('bake-gnupg');
  await chmod(dir, 0o700);
  t.after(async () => {
    await execa('gpgconf', ['--kill', 'gpg-agent'], { env: { GNUPGHOME: dir }, reject: false });
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A Flatcar-layout disk image in a temp dir. */
export async function withFlatcarDisk(t: CleanupHost, options: DiskOptions = {}): Promise<DiskLayout> {
  const dir = await withTempDir(t, 'bake-disk');
  return makeFlatcarDisk(join(dir, 'flatcar_production_image.bin'), options);
}

/**
 * Builds a release tree (default: every channel, a bakery) signed with a fresh key, serves it on
 * 127.0.0.1 and returns the environment that points bake at it.
 */
export async function withReleaseMirror(
  t: CleanupHost,
  options: ReleaseMirrorFixtureOptions = {},
): Promise<ReleaseMirrorFixture> {
  const { name, ...tree } = options;
  const key = await withSigningKey(t, name ? { name } : {});
  const scratch = await makeTempDir('bake-mirror');
  let mirror: Mirror | undefined;
  t.after(async () => {
    await mirror?.close();
    await rm(scratch, { recursive: true, force: true });
  });
  const root = join(scratch, 'www');
  const cacheDir = join(scratch, 'cache');
  await mkdir(root);
  await mkdir(cacheDir);
  // Started first: the bakery's .conf files name the mirror's URL.
  mirror = await startMirror({ root });
  const bakeryUrl = `${mirror.url}/extensions`;
  const manifest = await buildReleaseMirror(root, { ...tree, key, bakeryUrl });
  const env: FixtureEnv = bakeEnv(mirror.url, cacheDir);
  return { mirror, manifest, env, key, scratch };
}

const MIB = 1024 * 1024;

/** A sparse file of `sizeMiB` holding random bytes in the given `[offsetMiB, lengthMiB]` regions and holes elsewhere. */
export async function writeSparseFile(
  path: string,
  sizeMiB: number,
  dataRegions: Array<[offsetMiB: number, lengthMiB: number]>,
): Promise<void> {
  const file = await open(path, 'w');
  try {
    for (const [offset, length] of dataRegions)
      await file.write(randomBytes(length * MIB), 0, length * MIB, offset * MIB);
    await file.truncate(sizeMiB * MIB);
  } finally {
    await file.close();
  }
}
