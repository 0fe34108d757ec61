/**
 * What a sysext image file is and says about itself, checked before anything is downloaded or mounted:
 * its filesystem (by magic number) and its extension-release. systemd-sysext silently ignores an image
 * whose extension-release name differs from the name it is linked under, or whose ARCHITECTURE or ID does
 * not match the OS, so bake refuses those instead of baking an image that never merges.
 */
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../context.ts';
import type { Arch } from '../core/arch.ts';
import { inputError, isBakeError, usageError } from '../core/errors.ts';
import type { SignedBy, VerifyingCert } from '../sysext/ddi-signature.ts';
import { withExtractedImage } from '../sysext/extract.ts';
import { mountedTree, type PartitionRules, readInRoot, resolveInRoot } from './in-root.ts';

/** A sysext's links resolve inside the sysext, as they do once merged. */
export const SYSEXT_RULES: PartitionRules = { label: 'sysext', foreign: [] };

import { parseKeyValueFile } from '../core/key-value.ts';

export type SysextFormat = 'squashfs' | 'erofs' | 'ext4' | 'btrfs';

/** Magic numbers: offset in the file and the bytes found there. ext2/3/4 share one superblock magic. */
const MAGICS: ReadonlyArray<{ format: SysextFormat; offset: number; bytes: Buffer }> = [
  { format: 'squashfs', offset: 0, bytes: Buffer.from('hsqs', 'latin1') },
  { format: 'erofs', offset: 1024, bytes: Buffer.from([0xe2, 0xe1, 0xf5, 0xe0]) },
  { format: 'ext4', offset: 1080, bytes: Buffer.from([0x53, 0xef]) },
  { format: 'btrfs', offset: 65600, bytes: Buffer.from('_BHRfS_M', 'latin1') },
];

export const RELEASE_DIR = 'usr/lib/extension-release.d';

/** A plain extension name: what systemd accepts as an image name, and safe as a path component. */
export function checkExtensionName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.+-]*$/.test(name) || name.includes('..')) {
    throw usageError(`invalid sysext name '${name}'`, 'use letters, digits and . _ + - (no /, .., or whitespace)');
  }
}

/** The filesystem at `offset` of the file (a DDI's payload partition, or 0 for a bare image). */
export async function detectFormat(path: string, offset = 0): Promise<SysextFormat | undefined> {
  const file = await open(path, 'r');
  try {
    for (const magic of MAGICS) {
      const found = Buffer.alloc(magic.bytes.length);
      const { bytesRead } = await file.read(found, 0, found.length, offset + magic.offset);
      if (bytesRead === found.length && found.equals(magic.bytes)) return magic.format;
    }
    return undefined;
  } finally {
    await file.close();
  }
}

/** The image's filesystem, or the one verdict `bake` and `bake sysext lint` give for anything else. */
export async function requireSysextFormat(image: string): Promise<SysextFormat> {
  const format = await detectFormat(image);
  if (!format)
    throw inputError(`${image} is not a sysext image`, 'expected a squashfs, erofs, ext4 or btrfs filesystem image');
  return format;
}

export interface SysextInfo {
  /** The filesystem (a DDI's: its payload's). */
  format: SysextFormat;
  release: Record<string, string>;
  /** What bake checked of a DDI: its root hash and, given trusted certificates, the one that signed it. */
  ddi?: { arch: Arch; rootHash: string; signed: boolean; signedBy?: SignedBy };
}

export interface SysextExpectations {
  name: string;
  arch: Arch;
  /** The Flatcar version being baked, for images pinned with ID=flatcar and VERSION_ID. */
  osVersion?: string;
  /** Certificates (as read once) a signed DDI's signature must verify against (one of them); unsigned images pass. */
  trustedCerts?: readonly VerifyingCert[];
}

/**
 * A bare filesystem image, or a DDI: its layout and hash tree always checked, its signature against
 * `trustedCerts` when given, and then its payload (the verified bytes, copied out) like a bare image.
 */
export async function inspectSysext(ctx: Context, image: string, expect: SysextExpectations): Promise<SysextInfo> {
  const { isDdi, inspectDdi, withVerifiedPayload } = await import('../sysext/ddi.ts');
  if (!(await isDdi(image))) return inspectFilesystem(ctx, image, image, expect);
  const ddi = await inspectDdi(image);
  if (ddi.arch !== expect.arch)
    throw inputError(
      `${image} is a DDI for ${ddi.arch}, not ${expect.arch}`,
      `use a ${expect.arch} build or pass --arch ${ddi.arch}`,
    );
  return withVerifiedPayload(ctx, ddi, expect.trustedCerts ?? [], async (payload, verdict) => ({
    ...(await inspectFilesystem(ctx, payload, image, expect)),
    ddi: {
      arch: ddi.arch,
      rootHash: verdict.rootHash,
      signed: ddi.signature !== undefined,
      ...(verdict.signedBy ? { signedBy: verdict.signedBy } : {}),
    },
  }));
}

/** `file` is read; `image` is what messages call it (the DDI, when `file` is its payload's copy). */
async function inspectFilesystem(
  ctx: Context,
  file: string,
  image: string,
  expect: SysextExpectations,
): Promise<SysextInfo> {
  const format = await requireSysextFormat(file);
  // The release directory copied out by the format's reader: no root, no loop device.
  const release = await withExtractedImage(ctx, file, format, RELEASE_DIR, async (root) => {
    // The image's own links resolve inside it, never on this host.
    const dir = await resolveInRoot(mountedTree(root), SYSEXT_RULES, `/${RELEASE_DIR}`, { followLast: true });
    const names = await readdir(join(root, dir)).catch(() => [] as string[]);
    const wanted = `extension-release.${expect.name}`;
    if (!names.includes(wanted)) {
      const found = names.filter((n) => n.startsWith('extension-release.'));
      const detail = found.length ? `it carries ${found.join(', ')}` : `it has no ${RELEASE_DIR}/extension-release.*`;
      throw inputError(
        `${image} is not a sysext named '${expect.name}': ${detail}`,
        `systemd would ignore it; name it '${found[0]?.slice('extension-release.'.length) ?? 'as its metadata says'}' or rebuild it`,
      );
    }
    const text = await readInRoot(root, SYSEXT_RULES, `${dir}/${wanted}`).catch((error: unknown) => {
      throw isBakeError(error)
        ? inputError(
            `${image}: its ${wanted} cannot be read inside the image (${error.message})`,
            'rebuild it with the file itself, not a link out of the image',
          )
        : error;
    });
    return parseKeyValueFile(text);
  });
  checkCompatibility(image, release, expect);
  return { format, release };
}

/** systemd-sysext's matching rules (docs/flatcar-facts.md §5), as bake can check them before baking. */
export function checkCompatibility(image: string, release: Record<string, string>, expect: SysextExpectations): void {
  const architecture = release.ARCHITECTURE;
  if (architecture && architecture !== expect.arch) {
    throw inputError(
      `${image} is built for ${architecture}, not ${expect.arch}`,
      `use a ${expect.arch} build or pass --arch ${architecture}`,
    );
  }
  const id = release.ID;
  if (!id) throw inputError(`${image} has no ID= in its extension-release`, 'set ID=_any or ID=flatcar');
  if (id !== '_any' && id !== 'flatcar')
    throw inputError(`${image} is for ID=${id}, not Flatcar`, 'rebuild it with ID=_any or ID=flatcar');
  if (
    id === 'flatcar' &&
    !release.SYSEXT_LEVEL &&
    release.VERSION_ID &&
    expect.osVersion &&
    release.VERSION_ID !== expect.osVersion
  ) {
    throw inputError(
      `${image} is pinned to Flatcar ${release.VERSION_ID}, not ${expect.osVersion}`,
      'rebuild it for this release or use SYSEXT_LEVEL=1.0',
    );
  }
  if (id === 'flatcar' && release.SYSEXT_LEVEL && release.SYSEXT_LEVEL !== '1.0') {
    throw inputError(
      `${image} needs SYSEXT_LEVEL=${release.SYSEXT_LEVEL}; Flatcar has 1.0`,
      'rebuild it with SYSEXT_LEVEL=1.0',
    );
  }
}
