/**
 * Local sources: air-gapped users point an endpoint at a directory (`file:///srv/flatcar/...` or a
 * plain absolute path) and every getter and download reads from disk instead.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inputError, notFoundError } from '../core/errors.ts';
import { readBounded } from './limits.ts';

/** The local path a URL names, or undefined when it is a remote (http/https) URL. */
export function localPath(url: string): string | undefined {
  if (url.startsWith('file:')) {
    try {
      return fileURLToPath(url);
    } catch (error) {
      throw inputError(`bad file URL ${url}: ${(error as Error).message}`, 'use file:///absolute/path');
    }
  }
  return isAbsolute(url) ? url : undefined;
}

/** The same "not found" a 404 would give, so callers treat a missing local file like a missing remote one. */
function localFailure(url: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return notFoundError(url, 'check the path the endpoint points at');
  if (code === 'EACCES' || code === 'EPERM')
    return inputError(`cannot read ${url}: permission denied`, 'check its permissions');
  if (code === 'EISDIR') return inputError(`${url} is a directory, not a file`, 'name a file');
  return error as Error;
}

export async function readLocalText(url: string, path: string, maxBytes: number): Promise<string> {
  try {
    return (await readBounded(createReadStream(path), maxBytes, url)).toString('utf8');
  } catch (error) {
    throw localFailure(url, error);
  }
}

export async function localExists(path: string): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  return info?.isFile() ?? false;
}

/** Size of a local source file, failing like a 404 when it is missing. */
export async function localSize(url: string, path: string): Promise<number> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw Object.assign(new Error('directory'), { code: 'EISDIR' });
    return info.size;
  } catch (error) {
    throw localFailure(url, error);
  }
}
