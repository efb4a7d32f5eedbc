/** Helpers for the concurrency end-to-end tests: processes of the real bin, watched by PID. */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { binPath, repoRoot } from './helpers.ts';

/**
 * A tiny manifest whose training takes far longer than any test (thousands of epochs), so a process
 * still computing it long after the test gave up on it is an orphan, and a lock holder stays busy.
 */
export function longRunningManifest(name: string): object {
  return {
    name,
    seeds: [1, 2],
    dataset: { use: 'core/synthetic-images', options: { shape: [4, 4, 1], trainSize: 200, testSize: 50 } },
    model: { use: 'core/mlp', options: { hidden: [8] } },
    training: { epochs: 5000, batchSize: 50, learningRate: 0.01 },
    attacks: [{ use: 'core/gaussian', options: { count: 10, sigma: 0.5 } }],
    unlearners: [{ use: 'core/gd' }],
    budgets: [0.1],
    metrics: [{ use: 'core/accuracy' }],
  };
}

/** A running `unlearn-bench` process with its PID. */
export interface BinProcess {
  readonly pid: number;
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts the real bin with `argv`. */
export function startBin(argv: readonly string[]): BinProcess {
  const child = spawn(process.execPath, [binPath, ...argv], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { pid: child.pid!, done, kill: (signal) => child.kill(signal) };
}

/** Linux process state of `pid` (`R`, `S`, `Z`, …), or undefined if there is no such process. */
function state(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Whether `pid` still runs (a zombie has finished). */
export function running(pid: number): boolean {
  const s = state(pid);
  return s !== undefined && s !== 'Z' && s !== 'X';
}

/** PIDs of the running children of `pid` whose command line contains `marker`. */
export function childrenOf(pid: number, marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && running(Number(name)) && readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').includes(marker)) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * The worker processes of a run's parent `pid`: those it started (`run … --groups …`) and the
 * standby it started ahead and then used as its first worker (`--standby-worker`, see the bin's
 * standby.js), which keeps its command line.
 */
export function workersOf(pid: number): number[] {
  return [...childrenOf(pid, '--groups'), ...childrenOf(pid, '--standby-worker')].sort((a, b) => a - b);
}

/** Polls `condition` every 100 ms until it holds (true) or `seconds` pass (false). */
export async function waitFor(condition: () => boolean, seconds: number): Promise<boolean> {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return condition();
}
