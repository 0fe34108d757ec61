/**
 * Bounds on what a server can make bake do: how many bytes one response may carry and how long one
 * request may take in all. Without them an endless or trickling body (hostile or broken) grows bake's
 * memory or disk without end, or keeps it waiting for ever while each byte resets the idle timeout.
 */
import { BakeError, networkError } from '../core/errors.ts';

const KiB = 1 << 10;
const MiB = 1 << 20;

/** Byte limits by what a file is; callers pick the one that fits, the large-file cap is configurable. */
export const LIMITS = {
  /** Detached OpenPGP signatures, version.txt and a release file's DIGESTS: a few hundred bytes in practice. */
  smallFile: 64 * KiB,
  /** An OpenPGP public key with its subkeys and certifications. */
  signingKey: 1 * MiB,
  /** Any text read whole into memory (releases.json, SHA256SUMS, listings, templates, API pages). */
  text: 8 * MiB,
  /** Default cap on a download to disk; the Flatcar image is about 0.5 GiB compressed. */
  largeFile: 8 * 1024 * MiB,
};

/** A download whose limit is at most this is fetched again whole rather than resumed: its partial file is never kept. */
export const RESUME_ABOVE_BYTES = 1 * MiB;

/**
 * The part of a request's deadline that does not depend on its size; each byte received adds
 * 1/MIN_BYTES_PER_SECOND s, so a large download needs only keep an average rate, while a trickle ends.
 */
export const DEADLINE_BASE_MS = 120_000;
export const MIN_BYTES_PER_SECOND = 32 * KiB;

export function formatBytes(bytes: number): string {
  const units: Array<[number, string]> = [
    [1024 * MiB, 'GiB'],
    [MiB, 'MiB'],
    [KiB, 'KiB'],
  ];
  const [size, unit] = units.find(([unitSize]) => bytes >= unitSize && bytes % unitSize === 0) ?? [1, 'bytes'];
  return `${bytes / size} ${unit}`;
}

/** A response larger than its limit: a network error, not retried (the server would send it again). */
export class TooLargeError extends BakeError {
  constructor(url: string, maxBytes: number) {
    super(
      'network',
      `${url} is larger than the ${formatBytes(maxBytes)} such a file may be`,
      'the server sent more than was asked for; check the URL or the mirror (BAKE_HTTP_MAX_BYTES raises the cap on large downloads)',
    );
  }
}

/** Reads a whole body into memory, failing as soon as it passes `maxBytes`. */
export async function readBounded(
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
  url: string,
  onBytes?: (bytes: number) => void,
): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let received = 0;
  for await (const chunk of body) {
    received += chunk.length;
    if (received > maxBytes) throw new TooLargeError(url, maxBytes);
    onBytes?.(chunk.length);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * The total deadline of one request, across its retries: `baseMs` plus the time the bytes received
 * so far buy at `bytesPerSecond`. Its signal aborts when it passes; the timer is re-armed lazily when
 * it fires, so counting bytes costs no timer per chunk.
 */
export class Deadline {
  private readonly controller = new AbortController();
  private readonly started = Date.now();
  private received = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly baseMs: number,
    private readonly bytesPerSecond: number,
  ) {
    this.arm();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get expired(): boolean {
    return this.controller.signal.aborted;
  }

  /** Counts body bytes; each buys more time. */
  count(bytes: number): void {
    this.received += bytes;
  }

  private due(): number {
    return this.started + this.baseMs + (this.received * 1000) / this.bytesPerSecond;
  }

  private arm(): void {
    const wait = this.due() - Date.now();
    if (wait <= 0) {
      this.controller.abort();
      return;
    }
    this.timer = setTimeout(() => this.arm(), Math.ceil(wait));
    this.timer.unref();
  }

  /** The user-facing error once the deadline has passed. */
  error(url: string) {
    return networkError(
      `${url} took longer than its deadline (${this.baseMs} ms plus 1 s per ${formatBytes(this.bytesPerSecond)} received)`,
      'the server is too slow or stalling; try again later, use a mirror, or raise BAKE_HTTP_DEADLINE_MS',
    );
  }

  [Symbol.dispose](): void {
    clearTimeout(this.timer);
  }
}
