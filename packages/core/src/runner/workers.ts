/**
 * Worker processes for one machine: the unfinished groups of a run (seed × attack, each
 * independent) are split over child processes of the same CLI (`run --groups i,j,…`), which share
 * the output folder's SQLite store. The parent waits, then reads the store.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { TextSink } from '../logger.ts';
import type { CellEvent } from './runner.ts';
import type { StandbyWorker } from './standby.ts';

/** Where the parent shows its workers' progress when it draws live bars (the CLI's LiveProgress). */
export interface WorkerProgressDisplay {
  /** A progress message from worker `index` (sent over IPC instead of stderr lines). */
  update(index: number, message: { type: 'cell'; done: number; total: number; label: string } | { type: 'step'; text: string }): void;
  /** Worker `index` ended. */
  finish(index: number): void;
}

/** What the parent needs to start its workers. */
export interface WorkerLaunch {
  /** The CLI script to run in each child (the `unlearn-bench` bin). */
  readonly binPath: string;
  readonly manifestPath: string;
  readonly outDir: string;
  /** The backend the parent resolved, so every worker computes the same cell keys. */
  readonly backend: string;
  /** Plan indices of the groups each worker runs (one entry per worker). */
  readonly assignments: readonly (readonly number[])[];
  readonly debug: boolean;
  readonly quiet: boolean;
  /** Extra environment for every worker, over the defaults (a queue worker's job: its cells, the manifest's folder, threads). */
  readonly env?: Readonly<Record<string, string>>;
  /** A standby process to use as the first worker's first start (see StandbyWorker). */
  readonly standby?: StandbyWorker;
}

/** How a worker process ended: its exit code (1 if a signal ended it) and that signal. */
export interface WorkerExit {
  readonly code: number;
  readonly signal: NodeJS.Signals | null;
}

/** How the parent stops its workers (SIGINT/SIGTERM in the CLI). */
export interface WorkerControl {
  /** Aborted with a signal name: the workers are sent that signal and stop at their next safe point. */
  readonly stop: AbortSignal;
  /** Aborted: the workers are killed at once (SIGKILL). */
  readonly kill: AbortSignal;
  /** Passed to every worker as UNLEARN_BENCH_STOP_FILE: the parent creates it to ask them to stop (see the CLI's `--groups`). */
  readonly stopFile: string;
}

/**
 * How long past its cell timeout a worker's cell may run before the parent kills the worker: a
 * cell whose plugin never returns to the event loop (a synchronous loop) cannot be failed inside
 * the worker, whose timers cannot fire. 10% of the timeout, at least 2 s and at most 60 s.
 */
export function hangGraceMs(timeoutSeconds: number): number {
  return Math.min(60_000, Math.max(2_000, timeoutSeconds * 100));
}

/** Milliseconds between the parent's checks of its workers' cell times. */
const WATCH_INTERVAL_MS = 500;

/**
 * Runs one child per assignment and resolves to how each ended; their stderr is prefixed. Each
 * child reports its cells (see `RunOptions.onCell`); one whose cell runs past the cell timeout
 * (plus `hangGraceMs`) without returning is killed and started again on the same groups, with
 * that cell recorded as failed (UNLEARN_BENCH_FAIL_CELLS), so the run goes on.
 */
export async function runWorkers(launch: WorkerLaunch, stderr: TextSink, control?: WorkerControl, display?: WorkerProgressDisplay): Promise<WorkerExit[]> {
  const workers = launch.assignments.length;
  const start = (groups: readonly number[], index: number, failCells: ReadonlyMap<string, string>): Promise<WorkerExit> => {
    const args = [launch.binPath, 'run', launch.manifestPath, '--out', launch.outDir, '--backend', launch.backend, '--groups', groups.join(',')];
    if (launch.debug) args.push('--debug');
    if (launch.quiet) args.push('--quiet');
    // If the parent dies, the IPC channel closes and the worker is re-parented: it stops at its next
    // safe point (see the CLI's --groups and UNLEARN_BENCH_PARENT_PID).
    // Together the workers use each core once: split the cores between them for backend threads.
    const threads = process.env.UNLEARN_BENCH_WASM_THREADS ?? String(Math.max(1, Math.floor(availableParallelism() / workers)));
    const env = {
      ...process.env,
      UNLEARN_BENCH_WASM_THREADS: threads,
      UNLEARN_BENCH_PARENT_PID: String(process.pid),
      UNLEARN_BENCH_FAIL_CELLS: JSON.stringify([...failCells]),
      ...(control ? { UNLEARN_BENCH_STOP_FILE: control.stopFile } : {}),
      ...(display ? { UNLEARN_BENCH_PROGRESS: 'ipc' } : {}),
      ...launch.env,
    };
    const standby = launch.standby?.claim(args.slice(1), env) as ChildProcess | undefined;
    if (standby && launch.debug) stderr.write(`debug: worker ${index + 1} is the standby process (pid ${standby.pid}), which loaded its modules while the run was prepared\n`);
    const child = standby ?? spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env });
    // The stop file reaches a worker between training steps even while it computes synchronously;
    // the signal, while it waits.
    const onStop = () => child.kill(control!.stop.reason as NodeJS.Signals);
    const onKill = () => child.kill('SIGKILL');
    control?.stop.addEventListener('abort', onStop, { once: true });
    control?.kill.addEventListener('abort', onKill, { once: true });
    // The cell this worker is computing, and when it must be done.
    let current: { key: string; label: string; timeoutSeconds: number; killAt: number } | undefined;
    let hung: { key: string; message: string } | undefined;
    child.on('message', (event: CellEvent | { type: 'cell'; done: number; total: number; label: string } | { type: 'step'; text: string }) => {
      if (event?.type === 'cell' || event?.type === 'step') display?.update(index, event);
      else if (event?.type === 'start') current = { key: event.key, label: event.label, timeoutSeconds: event.timeoutSeconds, killAt: Date.now() + event.timeoutSeconds * 1000 + hangGraceMs(event.timeoutSeconds) };
      else if (event?.type === 'end' && current?.key === event.key) current = undefined;
    });
    const watch = setInterval(() => {
      if (!current || hung || !Number.isFinite(current.killAt) || Date.now() < current.killAt) return;
      const message = `did not finish within the cell timeout of ${current.timeoutSeconds} s (the manifest's "cellTimeout") and never returned to the event loop (a synchronous loop), so worker ${index + 1} was killed and restarted; raise "cellTimeout" if it needs longer.`;
      hung = { key: current.key, message };
      stderr.write(`worker ${index + 1}: ${current.label} computed past the cell timeout of ${current.timeoutSeconds} s without returning; killing the worker, failing that cell and starting the worker again\n`);
      child.kill('SIGKILL');
    }, WATCH_INTERVAL_MS);
    // A lone worker's lines are the run's own: no prefix.
    const prefix = workers > 1 ? `[worker ${index + 1}] ` : '';
    let pending = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) stderr.write(`${prefix}${line}\n`);
    });
    return new Promise<WorkerExit>((resolve) =>
      child.on('close', (code, signal) => {
        clearInterval(watch);
        if (!hung) display?.finish(index);
        control?.stop.removeEventListener('abort', onStop);
        control?.kill.removeEventListener('abort', onKill);
        if (pending) stderr.write(`${prefix}${pending}\n`);
        const stopped = control?.kill.aborted || control?.stop.aborted;
        if (hung && !stopped) {
          resolve(start(groups, index, new Map([...failCells, [hung.key, hung.message]])));
          return;
        }
        if (signal && !stopped) stderr.write(`worker ${index + 1} was killed (${signal}); its unfinished cells are listed below\n`);
        resolve({ code: code ?? (signal ? 1 : 0), signal });
      }),
    );
  };
  return Promise.all(launch.assignments.map((groups, index) => start(groups, index, new Map())));
}
