/**
 * Reads a btrfs filesystem inside an image file, at its partition's offset (0 for a sysext image file),
 * with no loop device, no mount and no root: btrfs-progs take no offset, and copying a 1 GiB partition
 * out to read one small file would cost more than the rest of the check. It answers what bake asks of a
 * partition: what a path is, the names in a directory, a small file's bytes; and of a sysext image: every
 * entry below a folder with its permissions, owner and (streamed) bytes, in one pass over the file tree.
 *
 * Everything it reads is hostile: every tree block must carry its own address and checksum and sit one
 * level below its parent (so a tree cannot loop, btrfs-volume.ts), every read stays inside the partition,
 * counts and sizes are capped, names are single path components, and what it does not read (LZO,
 * multi-device profiles, checksums other than crc32c, encrypted extents) is refused, never guessed.
 */
import { inflateSync } from 'node:zlib';
import CRC32C from 'crc-32/crc32c.js';
import type { Runner } from '../core/exec.ts';
import { DIR_ENTRY, ITEM_TYPE, readU64, within } from './btrfs-format.ts';
import {
  type BtrfsSource as BlockSource,
  type Key,
  keyAt,
  keysOf,
  LAST_KEY_OFFSET,
  type Tree,
  Volume,
} from './btrfs-volume.ts';
import { decompressZstdFrame } from './zstd-frame.ts';

/** What a path is, as lstat would say. */
export type BtrfsEntry = { kind: 'file' | 'dir' | 'missing' | 'other' } | { kind: 'link'; target: string };

/** An inode as lstat would give it: its type, permission bits (mode & 07777), owner and size. */
export interface BtrfsStat {
  kind: 'file' | 'dir' | 'link' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size: number;
}

/** An entry found by `walk`: its path from the top (no leading slash), its inode, a link's target. */
export type BtrfsTreeEntry = BtrfsStat & { path: string; target?: string };

/** Receives a file's bytes that start at `position`; holes are never written. */
export type BtrfsWrite = (bytes: Buffer, position: number) => Promise<void>;

/** Called for each entry; `copy` streams a regular file's bytes (anything else has none). */
export type BtrfsVisit = (entry: BtrfsTreeEntry, copy: (write: BtrfsWrite) => Promise<void>) => Promise<void>;

export interface BtrfsReader {
  lookup(path: string): Promise<BtrfsEntry>;
  /** What is at `path` (not followed), or undefined when nothing is. */
  stat(path: string): Promise<BtrfsStat | undefined>;
  /** The names in a directory, in the order they were made. */
  list(path: string): Promise<string[]>;
  /** A regular file's bytes; refused when it is larger than `maxBytes`. */
  read(path: string, maxBytes: number): Promise<Buffer>;
  /**
   * Every entry below the directory `folder` ('' for all), parents before children, none followed; a
   * folder the filesystem lacks (or that is not a directory) has none.
   */
  walk(folder: string, visit: BtrfsVisit): Promise<void>;
}

export interface BtrfsSource extends BlockSource {
  /** For zstd extents (node has no zstd of its own): the runner and a directory for the tool's output. */
  run: Runner;
  scratch: string;
}

const MAX_DIR_ENTRIES = 100_000;
const MAX_NAME = 255;
/** A file bake looks up is small: a few hundred extents at most, so a file split into millions is refused. */
const MAX_EXTENTS = 10_000;
/** What one walk keeps of the tree in memory (names and extent items): far more than any sysext holds. */
const MAX_WALK_BYTES = 256 * 1024 * 1024;
/** btrfs compresses at most 128 KiB of a file into one extent; a symlink holds at most PATH_MAX - 1 bytes. */
const MAX_COMPRESSED_EXTENT = 128 * 1024;
const MAX_LINK_TARGET = 4095;
const MAX_PATH = 4095;
/** Uncompressed extents (up to 128 MiB each) are read and handed on in pieces of this size. */
const READ_PIECE = 1024 * 1024;
const COMPRESSION = { none: 0, zlib: 1, zstd: 3 };
const EXTENT = {
  ramBytes: 8,
  compression: 16,
  encryption: 17,
  otherEncoding: 18,
  type: 20,
  inline: 21,
  diskBytenr: 21,
  diskBytes: 29,
  offset: 37,
  bytes: 45,
  size: 53,
};
const EXTENT_TYPE = { inline: 0, regular: 1 };
const INODE = { size: 16, uid: 44, gid: 48, mode: 52, itemSize: 160 };
const S_IFMT = 0o170000;
const PERMISSIONS = 0o7777;
/** (uid_t)-1: chown's "leave it", never anyone's id. */
const NO_ID = 0xffff_ffff;
const KINDS: ReadonlyMap<number, Inode['kind']> = new Map([
  [0o100000, 'file'],
  [0o040000, 'dir'],
  [0o120000, 'link'],
]);

interface Inode extends BtrfsStat {
  ino: bigint;
}

interface Item {
  key: Key;
  data: Buffer;
}

/** The file tree read in one pass: inodes, each directory's entries in creation order, each file's extents. */
interface Snapshot {
  inodes: Map<bigint, Inode>;
  children: Map<bigint, Array<{ name: Buffer; location: Key }>>;
  extents: Map<bigint, Item[]>;
}

export async function openBtrfs(source: BtrfsSource): Promise<BtrfsReader> {
  const { volume, fsTree, topDir } = await Volume.open(source);
  const files = new FileTree(volume, fsTree, topDir, source);
  return {
    async lookup(path) {
      const inode = await files.walk(path);
      if (!inode) return { kind: 'missing' };
      if (inode.kind !== 'link') return { kind: inode.kind };
      return { kind: 'link', target: await files.linkTarget(inode, path) };
    },
    async stat(path) {
      const inode = await files.walk(path);
      return inode && stat(inode);
    },
    async list(path) {
      const inode = await files.walk(path);
      if (inode?.kind !== 'dir') throw source.fail(`has no directory ${path}`);
      return files.names(inode.ino);
    },
    async read(path, maxBytes) {
      const inode = await files.walk(path);
      if (inode?.kind !== 'file') throw source.fail(`has no regular file ${path}`);
      if (inode.size > maxBytes) throw source.fail(`has ${path} larger than ${maxBytes} bytes`);
      return files.contents(inode);
    },
    walk: (folder, visit) => new TreeWalk(files, source, folder).run(visit),
  };
}

/** The kernel's btrfs_name_hash: crc32c seeded with ~1 and not inverted at the end (crc-32 inverts both). */
const nameHash = (name: Buffer) => BigInt(~CRC32C.buf(name, 1) >>> 0);

/** The files of one subvolume, looked up by name from its top directory. */
class FileTree {
  constructor(
    readonly volume: Volume,
    readonly tree: Tree,
    readonly topDir: bigint,
    private readonly source: BtrfsSource,
  ) {}

  /** The inode at `path` (no symlink followed: the caller decides where links may lead), or none. */
  async walk(path: string): Promise<Inode | undefined> {
    let inode = await this.inode(this.topDir);
    for (const name of path.split('/').filter(Boolean)) {
      if (name === '.' || name === '..') throw this.source.fail(`was asked for an unresolved path ${path}`);
      if (inode?.kind !== 'dir') return undefined;
      inode = await this.child(inode.ino, Buffer.from(name, 'utf8'));
    }
    return inode;
  }

  async names(dir: bigint): Promise<string[]> {
    const names: string[] = [];
    for await (const { data } of this.volume.items(this.tree, ...keysOf(dir, ITEM_TYPE.dirIndex))) {
      if (names.length === MAX_DIR_ENTRIES)
        throw this.source.fail(`has more than ${MAX_DIR_ENTRIES} names in a directory`);
      for (const { name } of this.entries(data)) names.push(name.toString('utf8'));
    }
    return names;
  }

  /** A file's bytes, from its extent items (looked up in the tree unless given); holes stay zero. */
  async contents(inode: Inode, extents?: Iterable<Item>): Promise<Buffer> {
    const out = Buffer.alloc(inode.size);
    const items = extents ?? this.volume.items(this.tree, ...keysOf(inode.ino, ITEM_TYPE.extentData));
    await this.stream(inode, items, MAX_EXTENTS, async (bytes, at) => {
      bytes.copy(out, at);
    });
    return out;
  }

  async linkTarget(inode: Inode, path: string, extents?: Iterable<Item>): Promise<string> {
    if (inode.size > MAX_LINK_TARGET) throw this.source.fail(`has a symlink of ${inode.size} bytes at ${path}`);
    return (await this.contents(inode, extents)).toString('utf8');
  }

  /** Hands each extent's bytes (at most `maxExtents` extents) to `write` at their offsets in the file. */
  async stream(
    inode: Inode,
    extents: AsyncIterable<Item> | Iterable<Item>,
    maxExtents: number,
    write: BtrfsWrite,
  ): Promise<void> {
    let count = 0;
    for await (const { key, data } of extents) {
      if (key.offset >= BigInt(inode.size)) break;
      if (++count > maxExtents) throw this.source.fail(`has a file in more than ${maxExtents} extents`);
      const at = Number(key.offset);
      for await (const piece of this.extent(data, inode.size - at)) await write(piece.bytes, at + piece.at);
    }
  }

  async inode(ino: bigint): Promise<Inode | undefined> {
    const item = await this.volume.first(this.tree, ...keysOf(ino, ITEM_TYPE.inode));
    return item && this.parseInode(ino, item.data);
  }

  /** An INODE_ITEM: only what an lstat needs, each field checked. */
  parseInode(ino: bigint, data: Buffer): Inode {
    const { fail } = this.source;
    within(data, 0, INODE.itemSize, fail);
    const mode = data.readUInt32LE(INODE.mode);
    // A mode is a type and permission bits (0177777): anything above is damage, not a kind of file.
    if (mode > (S_IFMT | PERMISSIONS)) throw fail(`has inode ${ino} with mode 0${mode.toString(8)}`);
    const uid = data.readUInt32LE(INODE.uid);
    const gid = data.readUInt32LE(INODE.gid);
    if (uid === NO_ID || gid === NO_ID) throw fail(`has inode ${ino} owned by uid or gid ${NO_ID}`);
    const kind = KINDS.get(mode & S_IFMT) ?? 'other';
    return { ino, kind, mode: mode & PERMISSIONS, uid, gid, size: readU64(data, INODE.size, fail) };
  }

  /** A directory's entry `name`, found by its hash (entries whose hashes collide share one item). */
  private async child(dir: bigint, name: Buffer): Promise<Inode | undefined> {
    const key = { objectid: dir, type: ITEM_TYPE.dirItem, offset: nameHash(name) };
    const item = await this.volume.first(this.tree, key, key);
    const entry = item && [...this.entries(item.data)].find((candidate) => candidate.name.equals(name));
    if (!entry) return undefined;
    if (entry.location.type !== ITEM_TYPE.inode) return subvolume(entry.location);
    return this.inode(entry.location.objectid);
  }

  *entries(data: Buffer): Generator<{ name: Buffer; location: Key }> {
    const { fail } = this.source;
    for (let at = 0; at < data.length; ) {
      within(data, at, DIR_ENTRY.size, fail);
      const nameLength = data.readUInt16LE(at + DIR_ENTRY.nameLength);
      const name = at + DIR_ENTRY.size;
      const end = name + nameLength + data.readUInt16LE(at + DIR_ENTRY.dataLength);
      if (nameLength === 0 || nameLength > MAX_NAME) throw fail(`has a name of ${nameLength} bytes`);
      within(data, name, end - name, fail);
      yield { name: data.subarray(name, name + nameLength), location: keyAt(data, at) };
      at = end;
    }
  }

  /** An extent's bytes for the file, at most `room` of them (what is left of the file from its offset). */
  private async *extent(data: Buffer, room: number): AsyncGenerator<{ at: number; bytes: Buffer }> {
    const { fail } = this.source;
    within(data, 0, EXTENT.inline, fail);
    if (data[EXTENT.encryption] !== 0 || data.readUInt16LE(EXTENT.otherEncoding) !== 0)
      throw fail('has encrypted or encoded extents');
    const compression = data[EXTENT.compression]!;
    if (data[EXTENT.type] === EXTENT_TYPE.inline) {
      const stored = data.subarray(EXTENT.inline);
      const plain = compression === COMPRESSION.none ? stored : await this.decompress(stored, compression, data);
      yield { at: 0, bytes: plain.subarray(0, room) };
      return;
    }
    within(data, 0, EXTENT.size, fail);
    const diskBytenr = readU64(data, EXTENT.diskBytenr, fail);
    // A hole (no disk address) and preallocated space read as zeros, which the file already holds.
    if (diskBytenr === 0 || data[EXTENT.type] !== EXTENT_TYPE.regular) return;
    const offset = readU64(data, EXTENT.offset, fail);
    const length = Math.min(readU64(data, EXTENT.bytes, fail), room);
    if (compression === COMPRESSION.none) {
      for (let at = 0; at < length; at += READ_PIECE)
        yield { at, bytes: await this.volume.read(diskBytenr + offset + at, Math.min(READ_PIECE, length - at)) };
      return;
    }
    const diskBytes = readU64(data, EXTENT.diskBytes, fail);
    if (diskBytes > MAX_COMPRESSED_EXTENT) throw fail(`has a compressed extent of ${diskBytes} bytes`);
    const plain = await this.decompress(await this.volume.read(diskBytenr, diskBytes), compression, data);
    yield { at: 0, bytes: plain.subarray(offset, offset + length) };
  }

  private async decompress(stored: Buffer, compression: number, extent: Buffer): Promise<Buffer> {
    const { fail, run, scratch } = this.source;
    const plainBytes = readU64(extent, EXTENT.ramBytes, fail);
    if (plainBytes > MAX_COMPRESSED_EXTENT) throw fail(`has a compressed extent of ${plainBytes} bytes`);
    if (compression === COMPRESSION.zstd)
      return decompressZstdFrame(run, scratch, stored, MAX_COMPRESSED_EXTENT * 2, fail);
    if (compression !== COMPRESSION.zlib) throw fail(`uses compression ${compression} (bake reads zlib and zstd)`);
    try {
      return inflateSync(stored, { maxOutputLength: plainBytes });
    } catch {
      throw fail('has a damaged zlib extent');
    }
  }
}

/** A subvolume (its location is a root item) is left alone: Flatcar's partitions and sysexts have none. */
const subvolume = (location: Key): Inode => ({
  ino: location.objectid,
  kind: 'other',
  mode: 0,
  uid: 0,
  gid: 0,
  size: 0,
});

/**
 * Every entry below one folder, from one pass over the file tree (each tree block read once, however many
 * files there are), then depth first. A directory reached twice, two entries of one name, a name that is
 * not one UTF-8 path component: all refused, so every path handed on is a plain path inside the image.
 */
class TreeWalk {
  private readonly visited = new Set<bigint>();

  constructor(
    private readonly files: FileTree,
    private readonly source: BtrfsSource,
    private readonly folder: string,
  ) {}

  async run(visit: BtrfsVisit): Promise<void> {
    const snapshot = await this.snapshot();
    let dir = snapshot.inodes.get(this.files.topDir);
    const path: string[] = [];
    for (const name of this.folder.split('/').filter(Boolean)) {
      if (dir?.kind !== 'dir') return;
      const entry = snapshot.children.get(dir.ino)?.find((child) => child.name.equals(Buffer.from(name)));
      dir = entry && this.located(snapshot, entry.location);
      path.push(name);
    }
    if (dir?.kind === 'dir') await this.directory(snapshot, dir, path.join('/'), visit);
  }

  private async snapshot(): Promise<Snapshot> {
    const { fail } = this.source;
    const snapshot: Snapshot = { inodes: new Map(), children: new Map(), extents: new Map() };
    let kept = 0;
    const keep = (data: Buffer) => {
      kept += data.length;
      if (kept > MAX_WALK_BYTES) throw fail(`has more than ${MAX_WALK_BYTES} bytes of names and extent items`);
      return Buffer.from(data);
    };
    const first = { objectid: 0n, type: 0, offset: 0n };
    const last = { objectid: LAST_KEY_OFFSET, type: 0xff, offset: LAST_KEY_OFFSET };
    for await (const { key, data } of this.files.volume.items(this.files.tree, first, last)) {
      if (key.type === ITEM_TYPE.inode) snapshot.inodes.set(key.objectid, this.files.parseInode(key.objectid, data));
      if (key.type === ITEM_TYPE.dirIndex) {
        const children = listOf(snapshot.children, key.objectid);
        if (children.length === MAX_DIR_ENTRIES) throw fail(`has more than ${MAX_DIR_ENTRIES} names in a directory`);
        for (const { name, location } of this.files.entries(data)) children.push({ name: keep(name), location });
      }
      if (key.type === ITEM_TYPE.extentData) listOf(snapshot.extents, key.objectid).push({ key, data: keep(data) });
    }
    return snapshot;
  }

  private async directory(snapshot: Snapshot, dir: Inode, path: string, visit: BtrfsVisit): Promise<void> {
    if (this.visited.has(dir.ino)) throw this.source.fail(`has the directory /${path} linked twice`);
    this.visited.add(dir.ino);
    const names = new Set<string>();
    for (const { name, location } of snapshot.children.get(dir.ino) ?? []) {
      const text = this.component(name, path);
      if (names.has(text)) throw this.source.fail(`has two entries named ${text} in /${path}`);
      names.add(text);
      const inode = this.located(snapshot, location);
      const childPath = path ? `${path}/${text}` : text;
      if (childPath.length > MAX_PATH) throw this.source.fail(`has a path longer than ${MAX_PATH} bytes`);
      const extents = snapshot.extents.get(inode.ino) ?? [];
      const target = inode.kind === 'link' ? await this.files.linkTarget(inode, childPath, extents) : undefined;
      await visit({ ...stat(inode), path: childPath, ...(target === undefined ? {} : { target }) }, (write) =>
        inode.kind === 'file' ? this.files.stream(inode, extents, Number.POSITIVE_INFINITY, write) : Promise.resolve(),
      );
      if (inode.kind === 'dir') await this.directory(snapshot, inode, childPath, visit);
    }
  }

  /** The inode an entry names: a subvolume is left alone, an inode the tree lacks is damage. */
  private located(snapshot: Snapshot, location: Key): Inode {
    if (location.type !== ITEM_TYPE.inode) return subvolume(location);
    const inode = snapshot.inodes.get(location.objectid);
    if (!inode) throw this.source.fail(`has an entry for inode ${location.objectid}, which it lacks`);
    return inode;
  }

  /** A name as a path component: valid UTF-8, no slash or NUL, not . or .. */
  private component(name: Buffer, path: string): string {
    const text = name.toString('utf8');
    if (!Buffer.from(text).equals(name) || /[/\0]/.test(text) || text === '.' || text === '..')
      throw this.source.fail(`has an entry named ${JSON.stringify(text)} in /${path}`);
    return text;
  }
}

const stat = ({ kind, mode, uid, gid, size }: Inode): BtrfsStat => ({ kind, mode, uid, gid, size });

function listOf<K, V>(map: Map<K, V[]>, key: K): V[] {
  const list = map.get(key) ?? [];
  map.set(key, list);
  return list;
}
