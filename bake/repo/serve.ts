/**
 * `bake repo serve`: the repository over HTTP with the URL layout extensions.flatcar.org gives
 * (docs/flatcar-facts.md §6), so systemd-sysupdate's `url-file` source sees one directory per extension:
 *
 *   /SHA256SUMS, /SHA256SUMS.gpg                → the global metadata
 *   /<name>/SHA256SUMS, /<name>/SHA256SUMS.gpg  → the extension's metadata
 *   /(anything/)*<name>-<ver>-<arch>.raw         → <name>-<ver>/<name>-<ver>-<arch>.raw (the release)
 *   /<name>.conf, /<name>-vX.Y.conf              → the newest conf in <name>/
 *   /<release>/<file>                            → that release's file, as on GitHub
 *
 * Files are rewritten internally rather than redirected: one request per file, no redirect hop.
 */

import type { Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { posix, resolve, sep } from 'node:path';
import { usageError } from '../core/errors.ts';
import { answerBadRequest, requestPath, sendFile } from '../net/serve-file.ts';
import { parseImageFileName, releaseTag } from './names.ts';

export interface RepoServer {
  url: string;
  port: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface RepoServerOptions {
  repoDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** One line per request. */
  log?: (line: string) => void;
  /** Serve through symlinks whose target lies inside the repository (never outside it). */
  followSymlinks?: boolean;
}

/** `127.0.0.1:8080`, `[::1]:8080` or `8080` → host and port. */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw usageError(`invalid --listen '${value}'`, 'use HOST:PORT, e.g. 127.0.0.1:8080');
  return { host: (match[1] ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1'), port };
}

/** The repository files a URL path may name, most specific first; all relative to the repository. */
export function candidateFiles(urlPath: string): string[] {
  const segments = urlPath.split('/').filter(Boolean);
  if (segments.some((segment) => segment === '..' || segment === '.' || segment.startsWith('.'))) return [];
  const candidates = segments.length > 0 ? [segments.join('/')] : [];
  const last = segments.at(-1);
  if (last === undefined) return candidates;
  const image = parseImageFileName(last);
  if (image) candidates.push(posix.join(releaseTag(image.name, image.version), last));
  if (last.endsWith('.conf') && segments.length === 1) {
    // kubernetes-v1.32.conf lives in kubernetes/, docker.conf in docker/: try each '-' split, longest name first.
    const stem = last.slice(0, -'.conf'.length);
    for (let cut = stem.length; cut > 0; cut = stem.lastIndexOf('-', cut - 1))
      candidates.push(posix.join(stem.slice(0, cut), last));
  }
  return candidates;
}

/**
 * A candidate is served from its real path, and only when that lies inside the repository: without
 * --follow-symlinks no link may lie on the way at all, with it a link may point within the repository.
 */
async function findFile(
  repoDir: string,
  urlPath: string,
  followSymlinks: boolean,
): Promise<{ file: string; stats: Stats } | undefined> {
  // Real paths on both sides, so a repository reached through a link still contains its own files.
  const root = await realpath(repoDir).catch(() => undefined);
  if (root === undefined) return undefined;
  for (const candidate of candidateFiles(urlPath)) {
    const file = resolve(root, candidate);
    const real = await realpath(file).catch(() => undefined);
    if (real === undefined || !real.startsWith(root + sep) || (!followSymlinks && real !== file)) continue;
    const stats = await stat(real).catch(() => undefined);
    if (stats?.isFile()) return { file: real, stats };
  }
  return undefined;
}

export async function startRepoServer(options: RepoServerOptions): Promise<RepoServer> {
  const repoDir = resolve(options.repoDir);
  const server: Server = createServer((req, res) => {
    void (async () => {
      let status = 404;
      const path = requestPath(req.url);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        status = 405;
        res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      } else if (path === undefined) {
        status = answerBadRequest(res);
      } else {
        const found = await findFile(repoDir, path, options.followSymlinks ?? false);
        if (found) status = await sendFile(req, res, found.file, found.stats);
        else res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
      }
      options.log?.(`${req.method} ${req.url} ${status}${req.headers.range ? ` (${req.headers.range})` : ''}`);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => done());
  }).catch((error: NodeJS.ErrnoException) => {
    throw usageError(
      `cannot listen on ${options.host ?? '127.0.0.1'}:${options.port ?? 0}: ${error.code ?? error.message}`,
      'pick another --listen port',
    );
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const close = () =>
    new Promise<void>((done) => {
      server.close(() => done());
      server.closeAllConnections();
    });
  return { url: `http://${host}:${address.port}`, port: address.port, close, [Symbol.asyncDispose]: close };
}
