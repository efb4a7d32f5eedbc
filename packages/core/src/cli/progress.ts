/**
 * Live progress on a terminal (issue 17): while worker processes compute, one bar per worker
 * (cells done of its share, the step it is on: model, epoch, loss, speed, ETA) and one for the
 * whole run update in place, drawn by cli-progress; every other line (info, warnings, failures)
 * is printed above the bars. Off a terminal (CI, pipes, files) the CLI prints its usual line per
 * event instead, so logs stay greppable.
 */
import cliProgress from 'cli-progress';
import type { TextSink } from '../logger.ts';

/** What a worker sends its parent over IPC when the parent draws bars (UNLEARN_BENCH_PROGRESS=ipc). */
export type ProgressMessage =
  /** A cell starts: `done` cells of the worker's `total` are behind it. */
  | { readonly type: 'cell'; readonly done: number; readonly total: number; readonly label: string }
  /** A progress line of the step in progress (training epoch, attack iteration). */
  | { readonly type: 'step'; readonly text: string };

/** The `[cell i/N, ETA …] label` line the runner logs at the start of each cell. */
const CELL_LINE = /^\[cell (\d+)\/(\d+)[^\]]*\] (.*)$/;

/** A cell-start line as a ProgressMessage, or undefined for any other line. */
export function parseCellLine(line: string): ProgressMessage | undefined {
  const match = CELL_LINE.exec(line);
  return match ? { type: 'cell', done: Number(match[1]) - 1, total: Number(match[2]), label: match[3] } : undefined;
}

/** Whether the CLI should draw bars on `stderr`: a terminal, and not turned off. */
export function wantsLiveProgress(stderr: TextSink, options: { quiet: boolean; debug: boolean }): boolean {
  if (options.quiet || options.debug || process.env.UNLEARN_BENCH_PROGRESS === 'lines') return false;
  return (stderr as { isTTY?: boolean }).isTTY === true && process.env.TERM !== 'dumb';
}

/**
 * A cli-progress MultiBar on `stream` (a terminal) whose bars read `name bar done/total cells · step`:
 * the local workers' bars and the queue coordinator's.
 */
export function createCellBars(stream: NodeJS.WritableStream): cliProgress.MultiBar {
  return new cliProgress.MultiBar(
    {
      stream: stream as NodeJS.WritableStream & { isTTY: boolean },
      format: '{name} {bar} {value}/{total} cells · {step}',
      barsize: 20,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      // Redraw only on updates (and at most 10 times a second): the workers' lines drive it.
      fps: 10,
      autopadding: true,
      linewrap: false,
    },
    cliProgress.Presets.shades_classic,
  );
}

/** Bars for worker processes with `cells[i]` cells to compute each, drawn on `stream` (a TTY). */
export class LiveProgress {
  private readonly bars: cliProgress.MultiBar;
  private readonly overall: cliProgress.SingleBar;
  private readonly workerBars: cliProgress.SingleBar[];
  private readonly done: number[];

  constructor(cells: readonly number[], stream: NodeJS.WritableStream) {
    this.bars = createCellBars(stream);
    const total = cells.reduce((a, b) => a + b, 0);
    this.overall = this.bars.create(total, 0, { name: 'all     ' }, { format: '{name} {bar} {value}/{total} cells · ETA {eta_formatted}' });
    this.workerBars = cells.map((n, i) => this.bars.create(n, 0, { name: `worker ${i + 1}`, step: 'starting' }));
    this.done = cells.map(() => 0);
  }

  /** Applies one message of worker `index`. */
  update(index: number, message: ProgressMessage): void {
    const bar = this.workerBars[index];
    if (!bar) return;
    if (message.type === 'cell') {
      // The worker counts the cells it still has to compute: fewer than the parent's count after a
      // restart (see runWorkers), when the cells finished before are behind it too.
      this.done[index] = Math.max(0, bar.getTotal() - message.total) + message.done;
      bar.update(this.done[index], { step: message.label });
    } else {
      bar.update(this.done[index], { step: message.text.trim() });
    }
    this.overall.update(this.done.reduce((a, b) => a + b, 0));
  }

  /** A worker finished its share. */
  finish(index: number): void {
    const bar = this.workerBars[index];
    if (!bar) return;
    bar.update(bar.getTotal(), { step: 'done' });
    this.done[index] = bar.getTotal();
    this.overall.update(this.done.reduce((a, b) => a + b, 0));
  }

  /** Prints `line` above the bars. */
  log(line: string): void {
    this.bars.log(`${line}\n`);
  }

  /** Draws the final state and leaves the bars on screen. */
  stop(): void {
    this.bars.update(); // a redraw prints the lines logged since the last one; stop() alone drops them
    this.bars.stop();
  }
}
