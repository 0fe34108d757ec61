/**
 * A real HTTP server (node:http on 127.0.0.1) serving a directory the way release and bakery servers do:
 * HEAD, single byte ranges (If-Range honoured), ETag and Last-Modified, content types, directory
 * listings, redirects. Tests inject faults (error statuses, dropped connections, corrupted bodies,
 * delays, throttling) and hostile bodies (endless, trickling) per path and read the request log.
 * scripts/mirror.ts serves a directory with this same server for the demo.
 */
import { createReadStream, type Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { contentType, parseRange, rangeToHonour, validatorHeaders } from '../../bake/net/serve-file.ts';

export type Fault =
  | { status: number; times?: number }
  | { dropAfterBytes: number; times?: number }
  | { corrupt: true; times?: number }
  /** Answers a Range request with the whole file (200), as servers without range support do. */
  | { ignoreRange: true; corrupt?: true; delayMs?: number; times?: number }
  /** Answers a Range request with that range even when If-Range names another version, as broken servers do. */
  | { ignoreIfRange: true; times?: number }
  | { delayMs: number; times?: number }
  | { throttleBytesPerSecond: number }
  /** Hostile: a 200 whose body never ends (no Content-Length), sent as fast as the client reads. */
  | { endless: true; times?: number }
  /** Hostile: a 200 whose body never ends, one byte every `trickleMs`, so no idle timeout ever fires. */
  | { trickleMs: number; times?: number };

export interface MirrorRequest {
  method: string;
  path: string;
  status: number;
  range?: string;
}

export interface Mirror {
  url: string;
  port: number;
  root: string;
  requests: MirrorRequest[];
  /** Applies `fault` to the next `times` (default 1) requests whose path matches; throttling stays until cleared. */
  fault(path: RegExp, fault: Fault): void;
  clearFaults(): void;
  /** Answers matching requests with 302 to `to(path)` (a path on this mirror or a full URL). */
  redirect(from: RegExp, to: (path: string) => string): void;
  close(): Promise<void>;
}

export interface MirrorOptions {
  root: string;
  /** Default 0: any free port. */
  port?: number;
  /** Called with one line per request (the dev script prints them). */
  log?: (line: string) => void;
}

interface ActiveFault {
  path: RegExp;
  fault: Fault;
  remaining: number;
}

/** How a file's bytes go out: which part, and what is done to them on the way. */
interface BodyPlan {
  start: number;
  end: number; // inclusive
  dropAfterBytes?: number;
  corrupt?: boolean;
  bytesPerSecond?: number;
}

/** The file a URL path names under root, or undefined when the path tries to leave root. */
function resolveUnder(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const path = resolve(root, `.${decoded}`);
  return path === root || path.startsWith(root + sep) ? path : undefined;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function listing(directory: string, urlPath: string): Promise<string> {
  const entries = await readdir(directory, { withFileTypes: true });
  const links = entries
    .map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name))
    .sort()
    .map((name) => `<a href="${encodeURI(name)}">${escapeHtml(name)}</a>`);
  const title = `Index of ${escapeHtml(urlPath)}`;
  return `<!DOCTYPE html>\n<html><head><title>${title}</title></head><body><h1>${title}</h1><pre>\n${links.join('\n')}\n</pre></body></html>\n`;
}

/** Waits until the response can take more data, or is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((done) => {
    const finish = () => {
      res.off('drain', finish);
      res.off('close', finish);
      done();
    };
    res.on('drain', finish);
    res.on('close', finish);
  });
}

/** Streams the planned bytes, applying drop/corrupt/throttle; never buffers the whole file. */
async function sendBody(res: ServerResponse, file: string, plan: BodyPlan): Promise<void> {
  if (plan.dropAfterBytes === 0) {
    res.flushHeaders();
    await sleep(20);
    res.destroy();
    return;
  }
  const chunkSize = plan.bytesPerSecond ? Math.max(1, Math.floor(plan.bytesPerSecond / 20)) : 1 << 20;
  const started = Date.now();
  let sent = 0;
  let corrupted = false;
  for await (const data of createReadStream(file, { start: plan.start, end: plan.end, highWaterMark: chunkSize })) {
    if (res.destroyed) return;
    let chunk = data as Buffer;
    if (plan.corrupt && !corrupted && chunk.length > 0) {
      chunk = Buffer.from(chunk);
      chunk[0] = chunk[0]! ^ 0xff;
      corrupted = true;
    }
    const drop = plan.dropAfterBytes !== undefined && sent + chunk.length >= plan.dropAfterBytes;
    if (drop) chunk = chunk.subarray(0, plan.dropAfterBytes! - sent);
    sent += chunk.length;
    if (drop) {
      // Let the bytes reach the socket before cutting it, so the client really receives exactly N bytes.
      await new Promise<void>((done) => res.write(chunk, () => done()));
      await sleep(20);
      res.destroy();
      return;
    }
    if (!res.write(chunk)) await drained(res);
    if (plan.bytesPerSecond) {
      const due = (sent / plan.bytesPerSecond) * 1000 - (Date.now() - started);
      if (due > 0) await sleep(due);
    }
  }
  res.end();
}

/** Sends a body that never ends, until the client goes away; `intervalMs` trickles it a byte at a time. */
async function sendEndless(res: ServerResponse, intervalMs?: number): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const chunk = Buffer.alloc(intervalMs === undefined ? 64 << 10 : 1, 'A');
  while (!res.destroyed) {
    if (!res.write(chunk)) await drained(res);
    if (intervalMs !== undefined) await sleep(intervalMs);
  }
}

export async function startMirror(options: MirrorOptions): Promise<Mirror> {
  const root = resolve(options.root);
  const requests: MirrorRequest[] = [];
  let faults: ActiveFault[] = [];
  const redirects: Array<{ from: RegExp; to: (path: string) => string }> = [];

  function record(req: IncomingMessage, path: string, status: number): void {
    const range = typeof req.headers.range === 'string' ? req.headers.range : undefined;
    requests.push({ method: req.method ?? 'GET', path, status, ...(range ? { range } : {}) });
    options.log?.(`${req.method} ${path}${range ? ` (${range})` : ''} → ${status}`);
  }

  /** The fault for this request, if any; counts it down and forgets it once used up. */
  function takeFault(path: string): Fault | undefined {
    const active = faults.find((candidate) => candidate.path.test(path));
    if (!active) return undefined;
    active.remaining -= 1;
    if (active.remaining <= 0) faults = faults.filter((candidate) => candidate !== active);
    return active.fault;
  }

  function reply(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    status: number,
    headers: Record<string, string> = {},
  ) {
    record(req, path, status);
    const body = req.method === 'HEAD' ? '' : `${status}\n`;
    res.writeHead(status, {
      'content-type': 'text/plain',
      'content-length': String(Buffer.byteLength(body)),
      ...headers,
    });
    res.end(body);
  }

  async function serveFile(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    file: string,
    info: Stats,
    fault?: Fault,
  ) {
    const size = info.size;
    const headers: Record<string, string> = {
      'accept-ranges': 'bytes',
      'content-type': contentType(file),
      ...validatorHeaders(info),
    };
    const asked =
      fault && 'ignoreRange' in fault
        ? undefined
        : fault && 'ignoreIfRange' in fault
          ? req.headers.range
          : rangeToHonour(req, info);
    const range = parseRange(typeof asked === 'string' ? asked : undefined, size);
    if (range === 'unsatisfiable') return reply(req, res, path, 416, { 'content-range': `bytes */${size}` });
    const { start, end } = range ?? { start: 0, end: size - 1 };
    const status = range ? 206 : 200;
    if (range) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    headers['content-length'] = String(end - start + 1);
    record(req, path, status);
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || size === 0) return void res.end();
    await sendBody(res, file, {
      start,
      end,
      ...(fault && 'dropAfterBytes' in fault ? { dropAfterBytes: fault.dropAfterBytes } : {}),
      ...(fault && 'corrupt' in fault ? { corrupt: true } : {}),
      ...(fault && 'throttleBytesPerSecond' in fault ? { bytesPerSecond: fault.throttleBytesPerSecond } : {}),
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(req, res, path, 405, { allow: 'GET, HEAD' });
    const fault = takeFault(path);
    if (fault && 'delayMs' in fault) await sleep(fault.delayMs);
    if (fault && 'status' in fault) return reply(req, res, path, fault.status);
    if (fault && ('endless' in fault || 'trickleMs' in fault)) {
      record(req, path, 200);
      return sendEndless(res, 'trickleMs' in fault ? fault.trickleMs : undefined);
    }
    const redirect = redirects.find((candidate) => candidate.from.test(path));
    if (redirect) return reply(req, res, path, 302, { location: redirect.to(path) });
    const file = resolveUnder(root, path);
    if (file === undefined) return reply(req, res, path, 403);
    const info = await stat(file).catch(() => undefined);
    if (!info) return reply(req, res, path, 404);
    // An API path with sub-paths (GitHub's releases and releases/tags/<tag>) is a directory whose index.json answers for it.
    const index = info.isDirectory() ? await stat(join(file, 'index.json')).catch(() => undefined) : undefined;
    if (index?.isFile()) return serveFile(req, res, path, join(file, 'index.json'), index, fault);
    if (info.isDirectory()) {
      if (!path.endsWith('/')) return reply(req, res, path, 301, { location: `${path}/` });
      const html = await listing(file, path);
      record(req, path, 200);
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': String(Buffer.byteLength(html)),
      });
      return void res.end(req.method === 'HEAD' ? undefined : html);
    }
    await serveFile(req, res, path, file, info, fault);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: Error) => {
      options.log?.(`error serving ${req.url}: ${error.message}`);
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  await new Promise<void>((listening, failed) => {
    server.once('error', failed);
    server.listen(options.port ?? 0, '127.0.0.1', () => listening());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    root,
    requests,
    fault(path, fault) {
      const remaining = 'throttleBytesPerSecond' in fault ? Infinity : (fault.times ?? 1);
      faults.push({ path, fault, remaining });
    },
    clearFaults() {
      faults = [];
    },
    redirect(from, to) {
      redirects.push({ from, to });
    },
    close() {
      return new Promise((closed, failed) => {
        server.close((error) => (error ? failed(error) : closed()));
        // Keep-alive connections from clients would hold close() open until they time out.
        server.closeAllConnections();
      });
    },
  };
}
