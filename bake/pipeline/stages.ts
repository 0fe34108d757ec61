/**
 * Runs the stages of a run one after another with listr2: a live task list on a terminal, plain lines
 * otherwise (and with --verbose), nothing with --json. All of it goes to stderr; stdout is for results.
 * Each stage is an ordinary async function whose result the caller keeps, so the run reads as a story
 * (see pipeline/bake.ts) instead of closures sharing a bag of state.
 */
import {
  color,
  Listr,
  type ListrDefaultRendererLogLevels,
  ListrLogger,
  type ListrLogLevels,
  type PresetTimer,
  ProcessOutput,
} from 'listr2';
import type { Context } from '../context.ts';

/** Where a stage shows a line of progress (the current file, bytes so far). */
export type Report = (line: string) => void;

/**
 * BAKE_PAUSE_BEFORE=<id> stops before that stage (or at a named point inside one, e.g. `mounted`) until
 * the process is interrupted. It exists to test and debug interruption at a precise point (see
 * test/integration/bake-interrupt.test.ts).
 */
export async function pausePoint(ctx: Context, id: string): Promise<void> {
  if (process.env.BAKE_PAUSE_BEFORE !== id) return;
  process.stderr.write(`paused before ${id}\n`);
  // A pending promise alone does not keep Node running; the timer does, until the signal comes.
  const keepAlive = setInterval(() => undefined, 60_000);
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  }).finally(() => clearInterval(keepAlive));
  ctx.signal.throwIfAborted();
}

/**
 * Limits how often a progress line is shown: live on a terminal, every few seconds in logs. `flush` shows
 * the last line held back, so a stage ends on its final state (100%, not the 97% of the last tick).
 */
function throttled(report: Report, intervalMs: number): { report: Report; flush: () => void } {
  let last = 0;
  let held: string | undefined;
  return {
    report: (line) => {
      const now = Date.now();
      if (now - last < intervalMs) {
        held = line;
        return;
      }
      [last, held] = [now, undefined];
      report(line);
    },
    flush: () => {
      if (held !== undefined) report(held);
      held = undefined;
    },
  };
}

/** Where progress goes: a live task list, a line per event (logs, --verbose), or nowhere. */
type ProgressStyle = 'live' | 'lines' | 'none';

/** --quiet shows none; --json none unless --verbose asks for it; pipes and --verbose get plain lines. */
function progressStyle(ctx: Context, options: { verbose?: boolean; quiet?: boolean }): ProgressStyle {
  if (options.quiet === true || (ctx.json && options.verbose !== true)) return 'none';
  return !process.stderr.isTTY || options.verbose === true ? 'lines' : 'live';
}

/** Each finished stage shows how long it took (listr2's own timer rounds to whole seconds). */
const STAGE_TIMER: PresetTimer = {
  condition: true,
  field: (ms: number) => `${(ms / 1000).toFixed(2)} s`,
  format: () => (text) => color.dim(text ?? ''),
};

export class StageRunner {
  private readonly style: ProgressStyle;

  constructor(
    private readonly ctx: Context,
    options: { verbose?: boolean; quiet?: boolean } = {},
  ) {
    this.style = progressStyle(ctx, options);
  }

  /** Runs one stage (after its pause point) and returns what it produced. */
  async run<T>(id: string, title: string, work: (report: Report) => Promise<T>): Promise<T> {
    let result: { value: T } | undefined;
    await this.render(title, undefined, async (output) => {
      await pausePoint(this.ctx, id);
      this.ctx.signal.throwIfAborted();
      const progress = throttled(output, this.style === 'live' ? 200 : 5000);
      result = { value: await work(progress.report) };
      progress.flush();
    });
    return result!.value;
  }

  /** Shows a stage that this run does not need, with the reason, so every run lists the same stages. */
  async skip(title: string, reason: string): Promise<undefined> {
    await this.render(title, reason, async () => undefined);
    return undefined;
  }

  private async render(
    title: string,
    skipReason: string | undefined,
    work: (output: Report) => Promise<void>,
  ): Promise<void> {
    const processOutput = new ProcessOutput(process.stderr, process.stderr);
    // The last progress line stays under a finished stage's title ("cached", "… (100%)"), as in the
    // line output; a skipped stage keeps its title, with the reason under it.
    // The last progress line stays under a finished stage's title ("cached", "… (100%)"), as in the
    // line output; a skipped stage keeps its title, with the reason under it.
    const tasks = new Listr<void, 'default' | 'silent', 'simple'>(
      [
        {
          title,
          skip: () => skipReason ?? false,
          task: (_context, task) =>
            work((line) => {
              task.output = line;
            }),
          rendererOptions: { persistentOutput: true },
        },
      ],
      {
        exitOnError: true,
        registerSignalListeners: false,
        renderer: this.style === 'none' ? 'silent' : 'default',
        fallbackRenderer: 'simple',
        fallbackRendererCondition: this.style === 'lines',
        rendererOptions: {
          logger: new ListrLogger<ListrDefaultRendererLogLevels>({ processOutput }),
          collapseSubtasks: false,
          collapseSkips: false,
          timer: STAGE_TIMER,
        },
        fallbackRendererOptions: { logger: new ListrLogger<ListrLogLevels>({ processOutput }), timer: STAGE_TIMER },
      },
    );
    await tasks.run();
  }
}
