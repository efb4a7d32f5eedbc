/**
 * Worker processes for one machine: the unfinished groups of a run (seed × attack, each
 * independent) are split over child processes of the same CLI (`run --groups i,j,…`), which share
 * the output folder's SQLite store. The parent waits, then reads the store.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { TextSink } from '../logger.ts';

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

/** Runs one child per assignment and resolves to how each ended; their stderr is prefixed. */
export async function runWorkers(launch: WorkerLaunch, stderr: TextSink, control?: WorkerControl): Promise<WorkerExit[]> {
  const workers = launch.assignments.length;
  const children = launch.assignments.map((groups, index) => {
    const args = [launch.binPath, 'run', launch.manifestPath, '--out', launch.outDir, '--backend', launch.backend, '--groups', groups.join(',')];
    if (launch.debug) args.push('--debug');
    if (launch.quiet) args.push('--quiet');
    // If the parent dies, the IPC channel closes and the worker is re-parented: it stops at its next
    // safe point (see the CLI's --groups and UNLEARN_BENCH_PARENT_PID).
    // Together the workers use each core once: split the cores between them for backend threads.
    const threads = process.env.UNLEARN_BENCH_WASM_THREADS ?? String(Math.max(1, Math.floor(availableParallelism() / workers)));
    const env = { ...process.env, UNLEARN_BENCH_WASM_THREADS: threads, UNLEARN_BENCH_PARENT_PID: String(process.pid), ...(control ? { UNLEARN_BENCH_STOP_FILE: control.stopFile } : {}) };
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env });
    // The stop file reaches a worker between training steps even while it computes synchronously;
    // the signal, while it waits.
    control?.stop.addEventListener('abort', () => child.kill(control.stop.reason as NodeJS.Signals), { once: true });
    control?.kill.addEventListener('abort', () => child.kill('SIGKILL'), { once: true });
    let pending = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) stderr.write(`[worker ${index + 1}] ${line}\n`);
    });
    return new Promise<WorkerExit>((resolve) =>
      child.on('close', (code, signal) => {
        if (pending) stderr.write(`[worker ${index + 1}] ${pending}\n`);
        if (signal && !control?.kill.aborted && !control?.stop.aborted) stderr.write(`worker ${index + 1} was killed (${signal}); its unfinished cells are listed below\n`);
        resolve({ code: code ?? (signal ? 1 : 0), signal });
      }),
    );
  });
  return Promise.all(children);
}
