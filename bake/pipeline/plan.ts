/**
 * The bake request and its plan, pure: flags are validated into a BakeRequest, and a BakeRequest plus a
 * resolved release become the plan that --dry-run prints: release, channel, board, every URL, every path
 * written inside the image. No disk or device work happens here.
 */
import { basename, join, resolve } from 'node:path';
import { VENDOR_ALIASES } from '../../vendors/aliases.ts';
import { isKnownVendor, VENDOR_FORMATS } from '../../vendors/formats.ts';
import { type Arch, parseArch } from '../core/arch.ts';
import type { RuntimeChoice } from '../core/container.ts';
import type { Endpoints } from '../core/endpoints.ts';
import { usageError } from '../core/errors.ts';
import { suggestion } from '../core/suggest.ts';
import { parseReleaseRequest, type ReleaseRequest, type ResolvedRelease } from '../flatcar/release.ts';
import { DIGESTS, IMAGE_BIN, IMAGE_BZ2, releaseCacheDir, VERSION_TXT } from '../flatcar/release-files.ts';
import { type InstallTarget, type Placement, parseInstallTarget, placeSysext } from '../image/placement.ts';
import { checkExtensionName } from '../image/sysext-file.ts';
import { type DdiFlags, type DdiRequest, ddiFromFlags } from '../sysext/ddi-signing.ts';
import type { RouteChoice } from '../vendor/index.ts';
import { parseScriptsTrust, type ScriptsTrust } from '../vendor/scripts-trust.ts';
import { type SeveralVendorsPlan, vendorList, vendorPlans } from '../vendor/several.ts';
import { parseTrustRequest, type TrustPlan, type TrustRequest } from './trust.ts';

/**
 * Where a sysext comes from: a local file, a bakery file (--fetch name:file), a bakery version resolved
 * against the bakery's SHA256SUMS catalogue (--fetch name@version), or a recipe built on the spot.
 */
export type SysextSpec =
  | { name: string; source: 'local'; file: string }
  | { name: string; source: 'bakery'; file: string }
  | { name: string; source: 'catalog'; version: string }
  | { name: string; source: 'recipe'; version: string };

export interface VendorRequest {
  route: RouteChoice;
  /** bz2, gz, zip, zst, none; default: what Flatcar's CI publishes for the format. */
  compression?: string[];
  containerRuntime: RuntimeChoice;
  scripts: ScriptsTrust;
}

export interface BakeRequest {
  sysexts: SysextSpec[];
  release: ReleaseRequest;
  arch: Arch;
  installTo: InstallTarget;
  /** Vendor formats to make beside the generic image (none: the generic image only). */
  vendors: string[];
  vendorOptions: VendorRequest;
  /** Boot the result in QEMU and check that every sysext merged (bake --smoke-test), within this many seconds. */
  smokeTest: boolean;
  smokeTimeoutSeconds?: number;
  outputDir: string;
  force: boolean;
  /** The sysexts built from recipes (name@version) become verity DDIs, signed when it names key and cert. */
  ddi?: DdiRequest;
  /** --trust-cert and --require-signed-sysexts. */
  trust: TrustRequest;
}

export interface RawBakeOptions extends DdiFlags {
  fetch?: boolean;
  /** --vendor, repeated and/or comma-separated. */
  vendor?: string | string[];
  vendorRoute?: string;
  compression?: string;
  containerRuntime?: string;
  scriptsSha256?: string;
  insecureScripts?: boolean;
  arch?: string;
  release?: string;
  installTo?: string | undefined;
  /** The spelling of the install flag the user typed, so its errors name it. */
  installToFlag?: string;
  output?: string;
  force?: boolean;
  smokeTest?: boolean;
  smokeTimeout?: number;
  /** --trust-cert, repeated. */
  trustCert?: string[];
  requireSignedSysexts?: boolean;
}

export function parseSysextSpec(argument: string, fetch: boolean): SysextSpec {
  const colon = argument.indexOf(':');
  const at = argument.indexOf('@');
  if (colon > 0 || (colon === 0 && at < 0)) {
    const name = argument.slice(0, colon);
    const file = argument.slice(colon + 1);
    if (!name)
      throw usageError(`empty sysext name in '${argument}'`, 'write name:file, e.g. docker:docker-27.3.1-x86-64.raw');
    checkExtensionName(name);
    if (!file) throw usageError(`no file given for sysext '${name}'`, `write ${name}:<file>`);
    if (fetch && file.includes('/'))
      throw usageError(
        `--fetch takes bakery file names, not paths: '${file}'`,
        `e.g. ${name}:${name}-<version>-x86-64.raw`,
      );
    return fetch ? { name, source: 'bakery', file } : { name, source: 'local', file };
  }
  if (at > 0) {
    const name = argument.slice(0, at);
    const version = argument.slice(at + 1);
    checkExtensionName(name);
    if (!version)
      throw usageError(`no version given for sysext '${name}'`, `write ${name}@<version> or ${name}@latest`);
    return { name, source: fetch ? 'catalog' : 'recipe', version };
  }
  throw usageError(
    `'${argument}' is not name:file or name@version`,
    'e.g. docker:docker.raw (a file) or docker@27.3.1 (built on the spot); bake --help lists the commands',
  );
}

export function parseBakeRequest(sysextArgs: string[], options: RawBakeOptions, cwd = process.cwd()): BakeRequest {
  if (sysextArgs.length === 0) throw usageError('no sysexts given', 'name at least one name:file or name@version');
  const sysexts = sysextArgs.map((argument) => parseSysextSpec(argument, options.fetch ?? false));
  const seen = new Set<string>();
  for (const { name } of sysexts) {
    if (seen.has(name))
      throw usageError(`sysext '${name}' is named twice`, 'each name links /etc/extensions/<name>.raw once');
    seen.add(name);
  }
  const vendors = vendorList([options.vendor ?? []].flat()).map(parseVendor);
  const arch = parseArch(options.arch ?? 'x86-64');
  const ddi = ddiFromFlags(options);
  if (ddi && !sysexts.some((spec) => spec.source === 'recipe'))
    throw usageError(
      '--verity and --sign apply to the sysexts bake builds, and none is named',
      'name one as name@version, or build it first with bake sysext create --sign',
    );
  return {
    ...(ddi ? { ddi } : {}),
    vendorOptions: parseVendorOptions(options),
    sysexts,
    release: parseReleaseRequest(options.release ?? 'stable'),
    arch,
    installTo: parseInstallTarget(options.installTo ?? 'root:/opt/extensions', options.installToFlag),
    vendors,
    outputDir: resolve(cwd, options.output ?? '.'),
    force: options.force ?? false,
    smokeTest: options.smokeTest ?? false,
    ...(options.smokeTimeout === undefined ? {} : { smokeTimeoutSeconds: options.smokeTimeout }),
    trust: parseTrustRequest(options, cwd),
  };
}

/**
 * A name@version without --fetch is built by a recipe: one that does not exist or does not build for
 * the arch is refused here, before any download, pointing at the bakery when no recipe has the name.
 * The catalogue is loaded only when the request names a recipe (loading it all costs up to 0.3 s).
 */
export async function checkRecipeSpecs(request: Pick<BakeRequest, 'sysexts' | 'arch'>): Promise<void> {
  const recipes = request.sysexts.filter((spec) => spec.source === 'recipe');
  if (recipes.length === 0) return;
  const catalogue = await import('../sysext/catalog.ts');
  for (const spec of recipes) checkRecipeSpec(catalogue, spec, request.arch);
}

function checkRecipeSpec(
  { getRecipe, recipeNames }: typeof import('../sysext/catalog.ts'),
  spec: { name: string; version: string },
  arch: Arch,
): void {
  if (!recipeNames().includes(spec.name)) {
    const fromBakery = `to take it from the bakery: bake --fetch ${spec.name}@${spec.version} (bake repo list shows what the bakery has)`;
    throw usageError(`no recipe builds '${spec.name}'`, suggestion(spec.name, recipeNames(), fromBakery));
  }
  const { arches } = getRecipe(spec.name);
  if (!arches.includes(arch))
    throw usageError(
      `the ${spec.name} recipe does not build for ${arch}`,
      `use --arch ${arches.join(' or --arch ')}, or --fetch ${spec.name}@${spec.version} from the bakery`,
    );
}

/** A vendor format by its exact name; a near miss or another name for one gets the right name suggested. */
export function parseVendor(value: string): string {
  if (isKnownVendor(value)) return value;
  const alias = VENDOR_ALIASES[value.toLowerCase()];
  const hint = alias
    ? `did you mean '${alias}'?`
    : suggestion(value, ['generic', ...VENDOR_FORMATS], 'run `bake vendors` for the list');
  throw usageError(`unknown vendor '${value}'`, hint);
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw usageError(`${flag} '${value}' is not one of ${allowed.join(', ')}`);
}

function parseVendorOptions(options: RawBakeOptions): VendorRequest {
  return {
    route: oneOf('--vendor-route', options.vendorRoute ?? 'auto', ['auto', 'sdk', 'native'] as const),
    containerRuntime: oneOf('--container-runtime', options.containerRuntime ?? 'auto', [
      'auto',
      'podman',
      'docker',
    ] as const),
    scripts: parseScriptsTrust(options),
    ...(options.compression
      ? {
          compression: options.compression
            .split(',')
            .map((c) => c.trim())
            .filter(Boolean),
        }
      : {}),
  };
}

/** A file fetched from outside and what vouches for it, shown by --dry-run, --verbose and --json. */
export interface FetchCheck {
  url: string;
  checkedBy: string;
}

export interface PlannedSysext {
  spec: SysextSpec;
  /** URLs fetched for it (bakery sources). */
  downloads: string[];
  /** What will check each download; the run reports what actually did (see pipeline/sources.ts). */
  checks: FetchCheck[];
  /** The default placement; a sysupdate conf read later may move it (see image/placement.ts). */
  placement: Placement;
}

export interface BakePlan {
  release: ResolvedRelease;
  request: BakeRequest;
  signingKey: string;
  releasesJson: string;
  downloads: Array<{ url: string; to: string }>;
  baseImage: string;
  sysexts: PlannedSysext[];
  output: string;
  /** Each vendor's route, downloads and outputs (none without --vendor). */
  vendors: SeveralVendorsPlan;
  /** The certificates and policy installed on ROOT (none without --trust-cert). */
  trust?: TrustPlan;
}

/** The file name a spec puts inside the image. */
export function imageFileName(spec: SysextSpec, arch: Arch): string {
  return 'version' in spec ? `${spec.name}-${spec.version}-${arch}.raw` : basename(spec.file);
}

export function bakeryUrls(
  bakeryUrl: string,
  spec: { name: string; file: string },
): { image: string; conf: string; sums: string[] } {
  const base = bakeryUrl.replace(/\/+$/, '');
  return {
    image: `${base}/${spec.file}`,
    conf: `${base}/${spec.name}.conf`,
    sums: [`${base}/${spec.name}/SHA256SUMS`, `${base}/SHA256SUMS`],
  };
}

/** The bakery's list, image and conf for one sysext, and what will vouch for each. */
function bakeryChecks(spec: SysextSpec, file: string, endpoints: Endpoints): FetchCheck[] {
  const { image, conf, sums } = bakeryUrls(endpoints.bakeryUrl, { name: spec.name, file });
  // name@version is resolved against the global list; name:file tries the extension's own list first.
  const list = spec.source === 'catalog' ? sums[1]! : sums[0]!;
  const signed = endpoints.bakeryKey !== '';
  const listed = `its sha256 in ${list}${signed ? ' (signed)' : ''}`;
  return [
    {
      url: list,
      checkedBy: signed
        ? `${list}.gpg with --bakery-key ${endpoints.bakeryKey}`
        : 'nothing: unsigned (no --bakery-key)',
    },
    { url: image, checkedBy: listed },
    { url: conf, checkedBy: `${signed ? listed : `${listed} if listed`}, a strict sysupdate parse and the path rules` },
  ];
}

export function planBake(
  request: BakeRequest,
  release: ResolvedRelease,
  context: { endpoints: Endpoints; cacheDir: string },
  trust?: TrustPlan,
): BakePlan {
  const cache = releaseCacheDir(context.cacheDir, release);
  // The image's signed checksum list vouches for it (its own .sig only where a mirror has no list).
  const files = [IMAGE_BZ2, `${IMAGE_BZ2}${DIGESTS}`, `${IMAGE_BZ2}${DIGESTS}.sig`, VERSION_TXT, `${VERSION_TXT}.sig`];
  const sysexts = request.sysexts.map((spec): PlannedSysext => {
    const file = imageFileName(spec, request.arch);
    const checks =
      spec.source === 'bakery' || spec.source === 'catalog' ? bakeryChecks(spec, file, context.endpoints) : [];
    // Bakery and recipe sysexts come with a sysupdate conf; a local one only if <name>.conf lies beside it.
    return {
      spec,
      downloads: checks.map(({ url }) => url),
      checks,
      placement: placeSysext(spec.name, file, request.installTo, undefined, spec.source !== 'local'),
    };
  });
  return {
    release,
    request,
    signingKey: context.endpoints.signingKey,
    releasesJson: context.endpoints.releasesJson,
    downloads: files.map((file) => ({ url: `${release.baseUrl}/${file}`, to: join(cache, file) })),
    baseImage: join(cache, IMAGE_BIN),
    sysexts,
    output: join(request.outputDir, IMAGE_BIN),
    vendors: vendorPlans(
      { vendors: request.vendors, release, outputDir: request.outputDir, ...request.vendorOptions },
      context.endpoints,
    ),
    ...(trust ? { trust } : {}),
  };
}
