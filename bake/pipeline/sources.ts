/**
 * Gets every sysext onto this machine and checks it before any gigabyte of the release is downloaded:
 * local files are read where they are, bakery files are downloaded into the cache and checked against
 * the bakery's SHA256SUMS (the original checks nothing), recipes are built on the spot. Each image is then
 * inspected (filesystem magic, extension-release name, architecture) and placed, honouring its
 * sysupdate conf.
 */
import { access, constants, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Context } from '../context.ts';
import type { Arch } from '../core/arch.ts';
import { downloadVerified } from '../core/cache.ts';
import { findChecksum } from '../core/checksums.ts';
import { inputError, isBakeError, notFoundUrl, verifyError } from '../core/errors.ts';
import { endpointKey, verifySignature } from '../flatcar/verify.ts';
import { type InstallTarget, matchesPattern, type Placement, placeSysext } from '../image/placement.ts';
import { inspectSysext, type SysextInfo } from '../image/sysext-file.ts';
import { LIMITS } from '../net/limits.ts';
import type { DdiRequest } from '../sysext/ddi-signing.ts';
import { parseSysupdateConf } from '../sysext/sysupdate.ts';
import { bakeryUrls, type FetchCheck, imageFileName, type SysextSpec } from './plan.ts';
import { type TrustPlan, verifyingCerts } from './trust.ts';

export interface PreparedSysext {
  spec: SysextSpec;
  image: string;
  conf?: string;
  bytes: number;
  info: SysextInfo;
  placement: Placement;
  /** What vouched for each downloaded file (bakery sources). */
  checks?: FetchCheck[];
}

interface Fetched {
  image: string;
  conf?: string;
  /** Where the conf came from, when that is not its path here (a bakery URL), for errors. */
  confOrigin?: string;
  /** The file name inside the baked image, when it differs from the spec's (recipes resolve 'latest'). */
  file?: string;
  /** What vouched for each downloaded file (bakery sources). */
  checks?: FetchCheck[];
}

async function localSysext(spec: Extract<SysextSpec, { source: 'local' }>): Promise<Fetched> {
  const image = resolve(spec.file);
  try {
    await access(image, constants.R_OK);
  } catch {
    throw inputError(
      `cannot read sysext file ${spec.file} for '${spec.name}'`,
      'check the path, or use --fetch to take it from the bakery',
    );
  }
  if (!(await stat(image)).isFile()) throw inputError(`${spec.file} is not a file`, 'name the sysext image file');
  const conf = join(dirname(image), `${spec.name}.conf`);
  const hasConf = await access(conf, constants.R_OK).then(
    () => true,
    () => false,
  );
  return hasConf ? { image, conf } : { image };
}

/** Local sysext files are checked before anything is downloaded: a typo must not wait for the network. */
export async function checkLocalSysexts(specs: readonly SysextSpec[]): Promise<void> {
  for (const spec of specs) if (spec.source === 'local') await localSysext(spec);
}

/** A bakery checksum list: where it came from and its text (searched per file). */
interface BakeryList {
  url: string;
  text: string;
}

/** The bakery's per-extension SHA256SUMS, else its global one. */
async function bakerySums(ctx: Context, urls: string[]): Promise<BakeryList> {
  for (const url of urls) {
    if (await ctx.http.exists(url)) return { url, text: await ctx.http.getText(url) };
  }
  throw verifyError(
    `the bakery publishes no SHA256SUMS (tried ${urls.join(', ')})`,
    'bake only installs bakery files it can verify; check --bakery-url',
  );
}

/**
 * Checks the list against its SHA256SUMS.gpg with --bakery-key, failing closed; without a key the list
 * is taken unsigned (the real bakery signs nothing yet). Returns what vouches for the list.
 */
async function checkListSignature(ctx: Context, list: BakeryList, workDir: string): Promise<string | undefined> {
  const signatureUrl = `${list.url}.gpg`;
  const location = ctx.endpoints.bakeryKey;
  if (!location) {
    if (await ctx.http.exists(signatureUrl))
      ctx.log.warn(
        `the bakery signs ${list.url} (${signatureUrl}), but no --bakery-key names its key: taking the list unsigned`,
      );
    return undefined;
  }
  const dir = await mkdtemp(join(workDir, 'bakery-list-'));
  const [listFile, signatureFile] = [join(dir, 'SHA256SUMS'), join(dir, 'SHA256SUMS.gpg')];
  await writeFile(listFile, list.text);
  await ctx.http.download(signatureUrl, signatureFile, { maxBytes: LIMITS.smallFile }).catch((error: unknown) => {
    throw notFoundUrl(error)
      ? verifyError(
          `--bakery-key was given but the bakery does not sign ${list.url} (no ${signatureUrl})`,
          'drop --bakery-key or check --bakery-url',
        )
      : error;
  });
  const check = await verifySignature(ctx, await endpointKey(ctx, 'bakeryKey'), listFile, signatureFile).catch(
    (error: unknown) => {
      throw isBakeError(error) ? verifyError(error.message, 'check --bakery-key and --bakery-url') : error;
    },
  );
  return `${signatureUrl} (signed by ${check.primaryFingerprint})`;
}

async function bakerySysext(
  ctx: Context,
  spec: { name: string; file: string },
  workDir: string,
  knownList?: BakeryList,
): Promise<Fetched> {
  const urls = bakeryUrls(ctx.endpoints.bakeryUrl, spec);
  const list = knownList ?? (await bakerySums(ctx, urls.sums));
  const signedBy = await checkListSignature(ctx, list, workDir);
  const listed = `its sha256 in ${list.url}${signedBy ? ' (signed)' : ''}`;
  const expected = findChecksum(list.text, spec.file);
  if (!expected)
    throw verifyError(
      `${spec.file} is not listed in the bakery's SHA256SUMS`,
      "check the file name (bake sysext list, or the bakery's release page)",
    );
  const image = await downloadVerified(ctx, urls.image, join(ctx.cacheDir, 'bakery', spec.file), expected);
  const checks: FetchCheck[] = [
    { url: list.url, checkedBy: signedBy ?? 'nothing: unsigned (no --bakery-key)' },
    { url: urls.image, checkedBy: listed },
  ];
  // The conf is unversioned and small: fetch it fresh every time so a changed bakery conf is picked up.
  const conf = join(workDir, `${spec.name}.conf`);
  if (!(await ctx.http.exists(urls.conf))) return { image, checks };
  const confSum = findChecksum(list.text, `${spec.name}.conf`);
  if (signedBy && !confSum)
    throw verifyError(
      `${spec.name}.conf is not listed in the signed ${list.url}`,
      'bake only installs what the signed list names; check --bakery-url',
    );
  await ctx.http.download(urls.conf, conf, confSum ? { sha256: confSum } : {});
  checks.push({
    url: urls.conf,
    checkedBy: `${confSum ? listed : 'no checksum (the list does not name it)'}, a strict sysupdate parse and the path rules`,
  });
  return { image, conf, confOrigin: urls.conf, checks };
}

/** name@version (or @latest) against the bakery's global SHA256SUMS, the catalogue `bake repo list` shows. */
async function catalogSysext(
  ctx: Context,
  spec: Extract<SysextSpec, { source: 'catalog' }>,
  arch: Arch,
  workDir: string,
): Promise<Fetched> {
  const { catalogFromSums, resolveImage } = await import('../repo/catalog.ts');
  const sumsUrl = bakeryUrls(ctx.endpoints.bakeryUrl, { name: spec.name, file: '' }).sums[1]!;
  const text = await ctx.http.getText(sumsUrl);
  const resolved = resolveImage(
    catalogFromSums(ctx.endpoints.bakeryUrl, text),
    spec.version === 'latest' ? spec.name : `${spec.name}@${spec.version}`,
    arch,
  );
  const file = imageFileName({ ...spec, version: resolved.version }, arch);
  return { ...(await bakerySysext(ctx, { name: spec.name, file }, workDir, { url: sumsUrl, text })), file };
}

async function recipeSysext(
  ctx: Context,
  spec: Extract<SysextSpec, { source: 'recipe' }>,
  arch: Arch,
  ddi?: DdiRequest,
): Promise<Fetched> {
  const { createSysext } = await import('../sysext/create.ts');
  const outputDir = join(ctx.cacheDir, 'built', arch, spec.name);
  const request = { name: spec.name, version: spec.version, arch, outputDir, sysupdate: true };
  const result = await createSysext(ctx, { ...request, ...(ddi ? { ddi } : {}) });
  // Bakery naming, with 'latest' resolved, so the baked file matches the conf's MatchPattern.
  const file = imageFileName({ ...spec, version: result.version }, arch);
  const conf = result.confs.find((path: string) => path.endsWith(`/${spec.name}.conf`));
  return conf ? { image: result.image, conf, file } : { image: result.image, file };
}

export async function fetchSysext(
  ctx: Context,
  spec: SysextSpec,
  arch: Arch,
  workDir: string,
  ddi?: DdiRequest,
): Promise<Fetched> {
  if (spec.source === 'local') return localSysext(spec);
  if (spec.source === 'bakery') return bakerySysext(ctx, spec, workDir);
  if (spec.source === 'catalog') return catalogSysext(ctx, spec, arch, workDir);
  return recipeSysext(ctx, spec, arch, ddi);
}

export async function prepareSysext(
  ctx: Context,
  spec: SysextSpec,
  options: {
    arch: Arch;
    installTo: InstallTarget;
    workDir: string;
    osVersion?: string;
    ddi?: DdiRequest;
    /** --trust-cert and --require-signed-sysexts: signed DDIs must verify against these, and unsigned are refused. */
    trust?: TrustPlan | undefined;
  },
): Promise<PreparedSysext> {
  const fetched = await fetchSysext(ctx, spec, options.arch, options.workDir, options.ddi);
  for (const { url, checkedBy } of fetched.checks ?? []) ctx.log.debug(`checked ${url}: ${checkedBy}`);
  const info = await inspectSysext(ctx, fetched.image, {
    name: spec.name,
    arch: options.arch,
    ...(options.osVersion ? { osVersion: options.osVersion } : {}),
    trustedCerts: verifyingCerts(options.trust),
  });
  const file = fetched.file ?? imageFileName(spec, options.arch);
  if (options.trust?.requireSigned && !info.ddi?.signedBy)
    throw inputError(
      `${spec.name}: --require-signed-sysexts is set, but ${file} is not a DDI signed by a --trust-cert certificate; the booted system would refuse it`,
      'sign it (bake sysext create|pack --sign, or name@version --sign), or drop --require-signed-sysexts',
    );
  const target = fetched.conf
    ? parseSysupdateConf(await readFile(fetched.conf, 'utf8'), fetched.confOrigin ?? fetched.conf)
    : undefined;
  if (
    target?.matchPatterns.length &&
    !target.matchPatterns.some((pattern) => matchesPattern(file, pattern, options.arch))
  ) {
    ctx.log.warn(
      `${file} does not match ${spec.name}.conf's MatchPattern (${target.matchPatterns.join(' ')}): systemd-sysupdate will not treat it as the current version`,
    );
  }
  const placement = placeSysext(spec.name, file, options.installTo, target, fetched.conf !== undefined);
  return { spec, ...fetched, bytes: (await stat(fetched.image)).size, info, placement };
}
