/**
 * How a queue coordinator shows its run: the groups done / running / waiting, which worker (host
 * and PID) computes which group and what step it is on, and an ETA. On a terminal, bars that
 * update in place (cli-progress: one for the run, one per group being computed); elsewhere (CI,
 * pipes, files, `UNLEARN_BENCH_PROGRESS=lines`) a line per event, so logs stay greppable.
 */
import cliProgress from 'cli-progress';
import { createCellBars } from '../cli/progress.ts';
import type { TextSink } from '../logger.ts';
import { formatDuration } from '../runner/runner.ts';

/** A group being computed, as its worker last reported it. */
export interface JobView {
  /** `seed 1 · gaussian`. */
  readonly label: string;
  /** `host:pid` of the worker, once it has said. */
  readonly worker?: string;
  readonly done: number;
  readonly total: number;
  /** The cell it is on, or the step text. */
  readonly step: string;
}

/** The run's counts. */
export interface QueueStatus {
  readonly groupsDone: number;
  readonly groupsRunning: number;
  readonly groupsWaiting: number;
  readonly groups: number;
  readonly cellsDone: number;
  readonly cellsTotal: number;
  /** The workers computing a group now. */
  readonly workers: readonly string[];
  /** Seconds to go, once known. */
  readonly eta?: number;
}

/** Where the coordinator reports. */
export interface QueueDisplay {
  /** A message line (info, warning). */
  log(line: string): void;
  /** A cell started in a group (a line per cell in line mode). */
  cell(jobId: string, view: JobView): void;
  /** A step of a group's current cell (training epoch …). */
  step(jobId: string, view: JobView): void;
  /** The group's job came back or went away. */
  end(jobId: string): void;
  status(status: QueueStatus): void;
  stop(): void;
}

/** `groups: 1 of 4 done, 2 running (a:12, b:34), 1 waiting[ · cells 8/16][ · ETA 0:40]`. */
function statusText(s: QueueStatus, cells: boolean): string {
  const running = s.groupsRunning > 0 ? ` (${s.workers.join(', ') || '…'})` : '';
  const eta = s.eta === undefined ? '' : ` · ETA ${formatDuration(s.eta)}`;
  return `groups: ${s.groupsDone} of ${s.groups} done, ${s.groupsRunning} running${running}, ${s.groupsWaiting} waiting${cells ? ` · cells ${s.cellsDone}/${s.cellsTotal}` : ''}${eta}`;
}

/** One line per event; the status line only when the counts change. */
export function lineDisplay(sink: TextSink, quiet: boolean): QueueDisplay {
  let last = '';
  return {
    log: (line) => sink.write(`${line}\n`),
    cell: (_id, view) => {
      if (!quiet) sink.write(`[${view.worker ?? '?'}] [cell ${view.done + 1}/${view.total}] ${view.step}\n`);
    },
    step: (_id, view) => {
      if (!quiet) sink.write(`[${view.worker ?? '?'}]   ${view.step}\n`);
    },
    end: () => {},
    status: (s) => {
      const text = statusText({ ...s, eta: undefined }, true);
      if (quiet || text === last) return;
      last = text;
      sink.write(`${statusText(s, true)}\n`);
    },
    stop: () => {},
  };
}

/** Bars drawn in place on `stream` (a terminal). */
export function liveDisplay(stream: NodeJS.WritableStream): QueueDisplay {
  const bars = createCellBars(stream);
  const overall = bars.create(1, 0, { name: 'all', step: '' }, { format: '{name} {bar} {value}/{total} cells · {step}' });
  const jobs = new Map<string, cliProgress.SingleBar>();
  const show = (id: string, view: JobView) => {
    const name = `${view.worker ?? 'waiting'} ${view.label}`;
    let bar = jobs.get(id);
    if (!bar) {
      bar = bars.create(view.total, view.done, { name, step: view.step });
      jobs.set(id, bar);
    }
    bar.setTotal(view.total);
    bar.update(view.done, { name, step: view.step });
  };
  return {
    log: (line) => bars.log(`${line}\n`),
    cell: show,
    step: show,
    end: (id) => {
      const bar = jobs.get(id);
      if (!bar) return;
      bars.remove(bar);
      jobs.delete(id);
    },
    status: (s) => {
      overall.setTotal(Math.max(1, s.cellsTotal));
      overall.update(s.cellsDone, { step: statusText(s, false) });
    },
    stop: () => {
      bars.update(); // a redraw prints the lines logged since the last one; stop() alone drops them
      bars.stop();
    },
  };
}
