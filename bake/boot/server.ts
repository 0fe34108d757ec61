/**
 * The HTTP server that hands `--serve` files to the guest, in place of the bakery's caddy container. It
 * listens on 127.0.0.1 only; QEMU's user-mode network maps the guest's gateway 10.0.2.2 to the host's
 * loopback, so the guest fetches http://10.0.2.2:<port>/<file>. Only the named files are served.
 */
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import { inputError } from '../core/errors.ts';
import { answerBadRequest, requestPath, sendFile } from '../net/serve-file.ts';

/** The host as seen from a QEMU user-mode guest. */
export const GUEST_GATEWAY = '10.0.2.2';

export interface FileServer extends AsyncDisposable {
  port: number;
  /** The base URL as the guest sees it. */
  guestUrl: string;
  requests: string[];
}

/** Serves each file under its base name; two files with one base name are refused. */
export async function serveFiles(paths: readonly string[]): Promise<FileServer> {
  const files = new Map<string, string>();
  for (const path of paths) {
    const name = basename(path);
    if (files.has(name)) throw inputError(`two served files are named ${name}`, 'rename one of them');
    if (!(await stat(path).catch(() => undefined))?.isFile()) throw inputError(`file to serve ${path} does not exist`);
    files.set(name, path);
  }
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const name = requestPath(request.url)?.slice(1);
    if (name === undefined) {
      requests.push(`${request.method} ${request.url} ${answerBadRequest(response)}`);
      return;
    }
    const path = files.get(name);
    requests.push(`${request.method} /${name} ${path ? 200 : 404}`);
    if (!path || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(path ? 405 : 404).end();
      return;
    }
    void stat(path)
      .then(
        (info) => sendFile(request, response, path, info),
        () => response.writeHead(404).end(),
      )
      .catch(() => response.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    guestUrl: `http://${GUEST_GATEWAY}:${port}`,
    requests,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
