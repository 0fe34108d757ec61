/**
 * Runs a flat list of stages with listr2: a live task list on a terminal, plain lines otherwise (and
 * with --verbose), nothing with --json. All of it goes to stderr; stdout is for results.
 */
import { Listr, ListrLogger, ProcessOutput, color, type ListrDefaultRendererLogLevels, type ListrLogLevels, type PresetTimer } from 'listr2';
import type { Context } from '../context.ts';

export interface Stage<State> {
  /** Short id, also accepted by BAKE_PAUSE_BEFORE. */
  id: string;
  title: string;
  skip?: (state: State) => boolean | string;
  run: (state: State, report: (line: string) => void) => Promise<void>;
}

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

/** Limits how often a progress line is shown: live on a terminal, every few seconds in logs. */
function throttled(report: (line: string) => void, intervalMs: number): (line: string) => void {
  let last = 0;
  return (line) => {
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    report(line);
  };
}

/** Each finished stage shows how long it took (listr2's own timer rounds to whole seconds). */
const STAGE_TIMER: PresetTimer = { condition: true, field: (ms: number) => `${(ms / 1000).toFixed(2)} s`, format: () => (text) => color.dim(text ?? '') };

export async function runStages<State>(ctx: Context, stages: Array<Stage<State>>, state: State, options: { verbose?: boolean } = {}): Promise<void> {
  const plain = !process.stderr.isTTY || options.verbose === true;
  const processOutput = new ProcessOutput(process.stderr, process.stderr);
  const tasks = new Listr<State, 'default' | 'silent', 'simple'>(
    stages.map((stage) => ({
      title: stage.title,
      skip: stage.skip ? () => stage.skip!(state) : false,
      task: async (_state, task) => {
        await pausePoint(ctx, stage.id);
        ctx.signal.throwIfAborted();
        await stage.run(state, throttled((line) => { task.output = line; }, plain ? 5000 : 200));
      },
    })),
    {
      exitOnError: true,
      registerSignalListeners: false,
      renderer: ctx.json ? 'silent' : 'default',
      fallbackRenderer: 'simple',
      fallbackRendererCondition: plain,
      rendererOptions: { logger: new ListrLogger<ListrDefaultRendererLogLevels>({ processOutput }), collapseSubtasks: false, timer: STAGE_TIMER },
      fallbackRendererOptions: { logger: new ListrLogger<ListrLogLevels>({ processOutput }), timer: STAGE_TIMER },
    },
  );
  await tasks.run(state);
}
