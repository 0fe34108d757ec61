/**
 * The progress lines of a bake's long stages, so a newcomer can tell how long to wait: a download's
 * share, speed and time left (and whether it resumed), a decoding image's bytes and share.
 */

import { humanBytes, humanDuration, percent } from '../core/units.ts';
import type { DecodeProgress } from '../image/decode-progress.ts';
import type { DownloadProgress } from '../net/http.ts';
import type { Report } from './stages.ts';

/**
 * Speed counts only the bytes of this attempt: a resumed download that starts at 90% must not seem to
 * have fetched them all in its first second. `now` is there for tests.
 */
export function downloadProgress(report: Report, now: () => number = Date.now): (progress: DownloadProgress) => void {
  let attempt = { from: -1, since: now() };
  return (progress) => {
    if (progress.resumedFrom !== attempt.from)
      attempt = { from: progress.resumedFrom, since: attempt.from === -1 ? attempt.since : now() };
    const seconds = Math.max((now() - attempt.since) / 1000, 0.001);
    report(downloadLine(progress, (progress.received - progress.resumedFrom) / seconds));
  };
}

/** `name: 120.0 MiB of 400.0 MiB (30%) at 12.0 MiB/s, 24 s left (resumed at 100.0 MiB)` */
export function downloadLine({ url, received, total, resumedFrom }: DownloadProgress, bytesPerSecond: number): string {
  const name = url.split('/').at(-1);
  const share = total ? ` of ${humanBytes(total)} (${percent(received, total)})` : '';
  const left =
    total && bytesPerSecond > 0 && received < total
      ? `, ${humanDuration(((total - received) / bytesPerSecond) * 1000)} left`
      : '';
  const resumed = resumedFrom > 0 ? ` (resumed at ${humanBytes(resumedFrom)})` : '';
  return `${name}: ${humanBytes(received)}${share} at ${humanBytes(bytesPerSecond)}/s${left}${resumed}`;
}

/** `decoded 1.20 GiB of 8.00 GiB (15%)`, or bytes alone until the image's size is known. */
export function decodeLine({ written, total }: DecodeProgress): string {
  return `decoded ${humanBytes(written)}${total ? ` of ${humanBytes(total)} (${percent(written, total)})` : ''}`;
}
