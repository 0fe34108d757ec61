/**
 * How far decoding an image has got: the bytes written so far and, once the image's first sectors are
 * there, the size its GPT claims. A bz2 says nothing about its decoded size, nor does the DIGESTS file.
 */
import { stat } from 'node:fs/promises';
import { claimedDiskBytes } from './gpt.ts';

export interface DecodeProgress {
  written: number;
  /** The image's size, when known: the GPT header's claim, never less than what is written. */
  total?: number;
}

/** Looks at `path` every `intervalMs` (and once more when disposed), reporting what it sees. */
export function watchDecoding(
  path: string,
  onProgress: (progress: DecodeProgress) => void,
  intervalMs: number,
): AsyncDisposable {
  let total: number | undefined;
  const look = async () => {
    const written = (await stat(path).catch(() => undefined))?.size ?? 0;
    // A progress line must never fail the decoding it describes.
    total ??= await claimedDiskBytes(path).catch(() => undefined);
    onProgress({ written, ...(total !== undefined && total >= written ? { total } : {}) });
  };
  let looking = look();
  const timer = setInterval(() => {
    looking = looking.then(look);
  }, intervalMs);
  return {
    async [Symbol.asyncDispose]() {
      clearInterval(timer);
      await looking.then(look);
    },
  };
}
