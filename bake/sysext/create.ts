/**
 * Building a sysext: a recipe (createSysext) or a user's own tree (packSysext) becomes `<name>.raw`,
 * `SHA256SUMS.<name>` and, on request, sysupdate configs. Every output is written beside its final name
 * and renamed at the end, so a failed or interrupted build leaves nothing in the output directory.
 */
import { lstat, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import { ARCHES, type Arch } from '../core/arch.ts';
import { sha256File, sha256sumLine } from '../core/checksums.ts';
import { tempDir } from '../core/cleanup.ts';
import { BakeError, inputError, isBakeError, notFoundUrl, toolError, usageError } from '../core/errors.ts';
import { findTool, requirePrivileges } from '../core/exec.ts';
import { checkExtensionName } from '../image/sysext-file.ts';
import { getRecipe, recipeDir } from './catalog.ts';
import { folderInside } from './confine.ts';
import { type CheckedDdi, checkDdi, type DdiRequest } from './ddi-signing.ts';
import { writeDdi } from './ddi-write.ts';
import { buildImage, IMAGE_FORMATS, type ImageFormat } from './image.ts';
import { formatFindings, lintTree } from './lint.ts';
import type { Recipe } from './recipe.ts';
import { EXTENSION_RELEASE_DIR, extensionReleasePath, extensionReleaseText } from './release.ts';
import { createBuildApi } from './runner.ts';
import { sysupdateConfs } from './sysupdate.ts';
import { cloneTree, normaliseTree, replacing } from './tree.ts';
import { recipeLatest } from './versions.ts';

export type { ImageFormat } from './image.ts';

export interface CreateRequest {
  name: string;
  /** The extension name the image carries (extension-release, file names), when not the recipe's (--name). */
  imageName?: string;
  /** Filesystem size before shrinking, for ext2/ext4/btrfs (--ext-fs-size); default from the tree. */
  fsSize?: number;
  /** An upstream version, or 'latest' (the newest of the recipe's latest set). */
  version: string;
  arch: Arch;
  outputDir: string;
  /** Image file name (`.raw` is appended when missing); default `<name>.raw`. */
  outputFile?: string;
  format?: ImageFormat;
  /** os-release ID the image is tied to; `_any` (default) fits every OS. */
  os?: string;
  sysupdate?: boolean;
  /** Verify=yes in the sysupdate configs (SHA256SUMS.gpg must be published). */
  verify?: boolean;
  /** SOURCE_DATE_EPOCH for every timestamp in the image; default 0. */
  epoch?: number;
  /** EXTENSION_RELOAD_MANAGER=1 even when the recipe does not ask for it. */
  forceReload?: boolean;
  options?: Record<string, string | boolean>;
  /** A verity DDI (signed when it names a key and certificate) instead of a bare filesystem image. */
  ddi?: DdiRequest;
}

export interface CreateResult {
  name: string;
  version: string;
  image: string;
  sha256sums: string;
  confs: string[];
}

export interface PackRequest {
  dir: string;
  name: string;
  arch: Arch;
  outputDir: string;
  outputFile?: string;
  format?: ImageFormat;
  os?: string;
  epoch?: number;
  forceReload?: boolean;
  fsSize?: number;
  /** Replace an existing image; without it an existing one is refused, as bake refuses its output. */
  force?: boolean;
  ddi?: DdiRequest;
}

/** Everything assemble() needs once the tree is filled. */
interface Assembly {
  name: string;
  version: string;
  arch: Arch;
  root: string;
  scratch: string;
  outputDir: string;
  outputFile?: string;
  format: ImageFormat;
  fsSize?: number;
  os: string;
  epoch: number;
  reload: boolean;
  sysupdate?: { verify: boolean; patchLevel: boolean };
  ddi?: CheckedDdi;
}

export async function createSysext(ctx: Context, request: CreateRequest): Promise<CreateResult> {
  return createFromRecipe(ctx, getRecipe(request.name), request);
}

/** Builds any recipe, including one made on the spot (`bake sysext wrap`); `request.name` is ignored. */
export async function createFromRecipe(ctx: Context, recipe: Recipe, request: CreateRequest): Promise<CreateResult> {
  const name = request.imageName ?? recipe.name;
  checkExtensionName(name);
  if (!recipe.arches.includes(request.arch)) {
    throw usageError(
      `${recipe.name} is not available for ${request.arch}`,
      `use --arch ${recipe.arches.join(' or --arch ')}`,
    );
  }
  const options = checkOptions(recipe, request.options ?? {});
  const format = await checkFormat(ctx, request.format ?? 'squashfs', request.fsSize);
  const ddi = request.ddi && { ddi: await checkDdi(request.ddi, format) };
  const version = request.version === 'latest' ? (await recipeLatest(ctx, recipe))[0]! : request.version;
  await using scratch = await tempDir('bake-sysext');
  const root = join(scratch.path, 'root');
  await copyStaticFiles(recipe.name, root);
  const api = createBuildApi(ctx, { recipe, version, arch: request.arch, options, root, scratch: scratch.path });
  ctx.log.info(`building ${recipe.name} ${version} for ${request.arch}`);
  await recipe.build(api).catch((error: unknown) => {
    throw explainMissingUpstream(error, recipe.name, version, request.arch);
  });
  return await assemble(ctx, {
    name,
    version,
    arch: request.arch,
    root,
    scratch: scratch.path,
    format,
    ...outputOptions(request),
    reload: recipe.reload || (request.forceReload ?? false),
    ...ddi,
    ...(request.sysupdate
      ? { sysupdate: { verify: request.verify ?? false, patchLevel: recipe.patchLevelSysupdate ?? false } }
      : {}),
  });
}

/** Where and how the image is written, with the defaults create and pack share. */
function outputOptions(request: {
  outputDir: string;
  outputFile?: string;
  os?: string;
  epoch?: number;
  fsSize?: number;
}) {
  return {
    outputDir: request.outputDir,
    ...(request.fsSize !== undefined ? { fsSize: request.fsSize } : {}),
    ...(request.outputFile ? { outputFile: request.outputFile } : {}),
    os: request.os ?? '_any',
    epoch: request.epoch ?? 0,
  };
}

export async function packSysext(ctx: Context, request: PackRequest): Promise<CreateResult> {
  const info = await stat(request.dir).catch(() => undefined);
  if (!info?.isDirectory())
    throw inputError(`${request.dir} is not a directory`, 'name a directory holding usr/ and/or opt/');
  checkExtensionName(request.name);
  const format = await checkFormat(ctx, request.format ?? 'squashfs', request.fsSize);
  const ddi = request.ddi && { ddi: await checkDdi(request.ddi, format) };
  const image = join(request.outputDir, outputFileName(request.name, request.outputFile));
  if (!request.force && (await lstat(image).catch(() => undefined))) {
    throw new BakeError(
      'exists',
      `${image} already exists`,
      'pass --force to replace it, or choose another --output-dir or --output-file',
    );
  }
  await using scratch = await tempDir('bake-pack');
  const root = join(scratch.path, 'root');
  // A private copy: normalising ownership and times must not touch the user's tree.
  await cloneTree(request.dir, root, 'copy');
  return await assemble(ctx, {
    name: request.name,
    version: '',
    arch: request.arch,
    root,
    scratch: scratch.path,
    format,
    ...outputOptions(request),
    reload: request.forceReload ?? false,
    ...ddi,
  });
}

async function assemble(ctx: Context, job: Assembly): Promise<CreateResult> {
  // Our metadata wins over anything the tree brought under the same name.
  // The tree came from archives and builds: its folders are made or checked without following a link.
  await folderInside(job.root, EXTENSION_RELEASE_DIR, 'the sysext tree');
  const release = join(job.root, extensionReleasePath(job.name));
  await replacing(release, () => writeFile(release, extensionReleaseText(job), { flag: 'wx' }));
  const entries = await normaliseTree(job.root, job.epoch);
  const findings = await lintTree(job.root, { name: job.name, arch: job.arch }, { from: 'builder' });
  if (findings.length > 0) {
    const lines = formatFindings(findings);
    throw inputError(
      `${job.name} fails lint: ${lines[0]}${lines.length > 1 ? ` (and ${lines.length - 1} more)` : ''}`,
      'run `bake sysext lint` on the tree for every finding',
    );
  }
  await using outputs = new PendingOutputs(ctx, job.outputDir);
  await outputs.prepare();
  const imageName = outputFileName(job.name, job.outputFile);
  const image = outputs.pending(imageName);
  const size = job.fsSize !== undefined ? { size: job.fsSize } : {};
  // A DDI wraps the filesystem image: built beside the tree first, then laid into the DDI.
  const filesystem = job.ddi ? join(job.scratch, 'payload') : image;
  await buildImage(ctx, job.format, {
    tree: job.root,
    output: filesystem,
    epoch: job.epoch,
    entries,
    scratch: job.scratch,
    ...size,
  });
  if (job.ddi)
    await writeDdi(ctx, { arch: job.arch, payload: filesystem, output: image, scratch: job.scratch, ddi: job.ddi });
  // The tree is done with once the image exists: free it while the image is hashed, not after.
  const [sha256] = await Promise.all([sha256File(image), rm(job.root, { recursive: true, force: true })]);
  const sumsName = `SHA256SUMS.${job.name}`;
  await writeFile(outputs.pending(sumsName), sha256sumLine(sha256, imageName));
  const confs = job.sysupdate
    ? sysupdateConfs({ name: job.name, version: job.version, bakeryUrl: ctx.endpoints.bakeryUrl, ...job.sysupdate })
    : [];
  for (const conf of confs) await writeFile(outputs.pending(conf.fileName), conf.text);
  await outputs.commit();
  return {
    name: job.name,
    version: job.version,
    image: join(job.outputDir, imageName),
    sha256sums: join(job.outputDir, sumsName),
    confs: confs.map((conf) => join(job.outputDir, conf.fileName)),
  };
}

export function outputFileName(name: string, outputFile?: string): string {
  const file = outputFile ?? name;
  if (file.includes('/'))
    throw usageError(`--output-file '${file}' must be a file name`, 'use --output-dir for the directory');
  return file.endsWith('.raw') ? file : `${file}.raw`;
}

/** Outputs written as hidden temp files and renamed together; on failure they (and a new dir) go away. */
class PendingOutputs implements AsyncDisposable {
  private readonly files: string[] = [];
  private committed = false;
  private createdDir = false;

  constructor(
    private readonly ctx: Context,
    private readonly dir: string,
  ) {}

  async prepare(): Promise<void> {
    this.createdDir = !(await stat(this.dir).catch(() => undefined));
    await mkdir(this.dir, { recursive: true });
  }

  pending(fileName: string): string {
    this.files.push(fileName);
    return join(this.dir, `.${fileName}.partial`);
  }

  async commit(): Promise<void> {
    for (const file of this.files) await rename(join(this.dir, `.${file}.partial`), join(this.dir, file));
    this.committed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.committed) return;
    for (const file of this.files) await rm(join(this.dir, `.${file}.partial`), { force: true });
    if (this.createdDir && (await readdir(this.dir)).length === 0) await rm(this.dir, { recursive: true });
    this.ctx.log.debug(`removed unfinished outputs in ${this.dir}`);
  }
}

async function copyStaticFiles(name: string, root: string): Promise<void> {
  await mkdir(root, { recursive: true });
  for (const top of ['usr', 'opt']) {
    const from = join(recipeDir(name), 'files', top);
    if (await stat(from).catch(() => undefined)) await cloneTree(from, join(root, top), 'copy');
  }
}

function checkOptions(recipe: Recipe, given: Record<string, string | boolean>): Record<string, string | boolean> {
  const known = new Map((recipe.options ?? []).map((option) => [option.name, option]));
  for (const [name, value] of Object.entries(given)) {
    const option = known.get(name);
    const list = [...known.keys()].map((n) => `--${n}`).join(', ') || 'none';
    if (!option) throw usageError(`${recipe.name} has no option --${name}`, `its options: ${list}`);
    if (option.choices && !option.choices.includes(String(value))) {
      throw usageError(
        `--${name} ${String(value)} is not valid for ${recipe.name}`,
        `use one of: ${option.choices.join(', ')}`,
      );
    }
  }
  const missing = (recipe.options ?? []).find((option) => option.required && given[option.name] === undefined);
  if (missing)
    throw usageError(
      `${recipe.name} needs --${missing.name}`,
      `e.g. --${missing.name} ${missing.value ?? ''}`.trimEnd(),
    );
  return given;
}

/**
 * Unknown formats, a size for a format without one, missing mkfs tools and missing root for a format
 * that needs it fail before anything is downloaded.
 */
async function checkFormat(ctx: Context, format: ImageFormat, fsSize?: number): Promise<ImageFormat> {
  const spec = IMAGE_FORMATS[format];
  if (!spec)
    throw usageError(
      `unknown image format '${String(format)}'`,
      `use one of: ${Object.keys(IMAGE_FORMATS).join(', ')}`,
    );
  if (fsSize !== undefined && !spec.sized) {
    const sized = Object.entries(IMAGE_FORMATS)
      .filter(([, row]) => row.sized)
      .map(([name]) => name);
    throw usageError(`--ext-fs-size does not apply to ${format} images`, `use it with --format ${sized.join(', ')}`);
  }
  for (const tool of spec.tools) {
    if (!(await findTool(tool)))
      throw toolError(`${tool} not found (needed to build ${format} images)`, 'install it, or choose another --format');
  }
  if (spec.needsRoot) await requireRootFor(ctx, format);
  return format;
}

async function requireRootFor(ctx: Context, format: ImageFormat): Promise<void> {
  const rootless = Object.entries(IMAGE_FORMATS)
    .filter(([, row]) => !row.needsRoot)
    .map(([name]) => name);
  await requirePrivileges(ctx.run, `building ${format} sysext images`).catch((error: unknown) => {
    if (isBakeError(error) && error.kind === 'tool')
      throw toolError(
        `${format} sysext images need root or passwordless sudo (they are built through a mount)`,
        `run as root, or choose --format ${rootless.join(', ')}`,
      );
    throw error;
  });
}

/** A 404 while fetching upstream artefacts almost always means the version or arch does not exist there. */
function explainMissingUpstream(error: unknown, name: string, version: string, arch: Arch): unknown {
  const url = notFoundUrl(error);
  if (url === undefined) return error;
  return inputError(
    `${name} ${version} is not published upstream for ${arch} (${ARCHES[arch].goarch}): ${url} not found`,
    `list versions with: bake sysext versions ${name}`,
  );
}
