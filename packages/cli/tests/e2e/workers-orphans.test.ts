/**
 * Killing the parent of a `--workers` run stops its workers promptly (issue 20): a worker checks
 * for its parent at every training epoch and between cells, so none keeps computing and writing.
 * Run several times at once to catch a race. Killing the workers instead: the parent names the
 * cells each one left unfinished.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { longRunningManifest, running, startBin, waitFor, workersOf } from './concurrency.ts';
import { tempDir, writeManifest } from './helpers.ts';

const manifest = writeManifest(longRunningManifest('orphans'));

function workersStarted(out: string): boolean {
  if (!existsSync(join(out, 'results.db'))) return false;
  try {
    const db = new Database(join(out, 'results.db'), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM runs').get() as { n: number }).n >= 2;
    } finally {
      db.close();
    }
  } catch {
    return false; // not created yet
  }
}

/** One round: start a 2-worker run, kill its parent once both workers train, and watch them. */
async function round(): Promise<void> {
  const out = tempDir();
  // --quiet: nothing is written to the dead parent's pipe, so only the worker's own check can stop it.
  const parent = startBin(['run', manifest, '--out', out, '--backend', 'cpu', '--workers', '2', '--quiet']);
  let workers: number[] = [];
  try {
    expect(await waitFor(() => workersStarted(out), 60)).toBe(true); // both workers opened the store
    workers = workersOf(parent.pid);
    expect(workers).toHaveLength(2);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // into the first model's training
    expect(workers.every(running)).toBe(true);
    parent.kill('SIGKILL');
    await parent.done;
    expect(await waitFor(() => !workers.some(running), 15)).toBe(true);
  } finally {
    parent.kill('SIGKILL');
    for (const pid of workers) if (running(pid)) process.kill(pid, 'SIGKILL');
  }
  const db = new Database(join(out, 'results.db'), { readonly: true });
  const cells = (db.prepare('SELECT COUNT(*) AS n FROM cells').get() as { n: number }).n;
  db.close();
  expect(cells).toBe(0);
}

/** Kills both workers of a run: the parent names every unfinished cell and the worker that held it. */
async function killedWorkers(): Promise<void> {
  const out = tempDir();
  const parent = startBin(['run', manifest, '--out', out, '--backend', 'cpu', '--workers', '2', '--quiet']);
  try {
    expect(await waitFor(() => workersStarted(out), 60)).toBe(true);
    const workers = workersOf(parent.pid);
    expect(workers).toHaveLength(2);
    for (const pid of workers) process.kill(pid, 'SIGKILL');
    const { code, stderr } = await parent.done;
    expect(code).toBe(1);
    // Worker 1 had seed 1's group, worker 2 seed 2's (round-robin over the plan).
    for (const [worker, seed] of [[1, 1], [2, 2]]) {
      expect(stderr).toContain(`worker ${worker} was killed (SIGKILL); its unfinished cells are listed below`);
      for (const cell of ['unlearner=none/budget=-', 'unlearner=retrain/budget=-', 'unlearner=gd/budget=10%']) {
        expect(stderr).toMatch(new RegExp(`failed: seed=${seed}/attack=gaussian/${cell}#[0-9a-f]{12}: worker ${worker} was killed \\(SIGKILL\\) before finishing it; rerun to finish it\n`));
      }
    }
  } finally {
    parent.kill('SIGKILL');
  }
}

describe('--workers processes killed', () => {
  it('every worker stops within seconds when the parent dies (two runs at once); a killed worker is named with its cells', async () => {
    await Promise.all([round(), round(), killedWorkers()]);
  });
});
