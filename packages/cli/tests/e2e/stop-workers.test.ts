/**
 * SIGINT to the parent of a `--workers` run (issue 20): it asks its workers to stop, and they do so
 * between training steps even inside a plugin's synchronous trainSgd (the parent's stop file is
 * checked there); the stopped cells are neither stored nor failed, and a resume computes exactly
 * them. A second SIGINT stops at once, also workers stuck in a loop that no step check reaches.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { running, waitFor, workersOf } from './concurrency.ts';
import { runBin, runInProcess, stored, storedSoFar, tempDir, writeManifest } from './helpers.ts';

const faults = resolve(import.meta.dirname, 'fixtures/plugins/faults.mjs');

function manifest(name: string, unlearners: object[]): string {
  return writeManifest({
    name,
    plugins: [faults],
    seeds: [1, 2],
    dataset: { use: 'core/synthetic-images', options: { shape: [4, 4, 1], trainSize: 200, testSize: 50 } },
    model: { use: 'core/mlp', options: { hidden: [8] } },
    training: { epochs: 2, batchSize: 50, learningRate: 0.01 },
    attacks: [{ use: 'core/gaussian', options: { count: 10, sigma: 0.5 } }],
    unlearners,
    budgets: [0.5],
    metrics: [{ use: 'core/accuracy' }],
  });
}

/** Stops the workers inside slow-train's synchronous training, then resumes. */
async function stopInsidePluginTraining(): Promise<void> {
  const path = manifest('stop-workers', [{ use: 'core/gd' }, { use: 'faults/slow-train' }]);
  const out = tempDir();
  const parent = runBin(['run', path, '--out', out, '--backend', 'cpu', '--workers', '2', '--quiet']);
  let workers: number[] = [];
  try {
    // Both groups' references and gd are stored: each worker is in slow-train's 100,000 epochs.
    expect(await waitFor(() => storedSoFar(out).cells === 6, 90)).toBe(true);
    workers = workersOf(parent.pid);
    expect(workers).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 500));
    const sent = performance.now();
    parent.kill('SIGINT');
    const result = await parent.done;
    expect((performance.now() - sent) / 1000).toBeLessThan(10);
    expect(result.code).toBe(130);
    expect(result.stderr).toContain('SIGINT received: asking the workers to stop at their next safe point; finished cells are kept. Press Ctrl-C again to stop at once.\n');
    expect(result.stderr).toContain(`stopped (SIGINT): 6 of 8 cell(s) are finished and saved in ${join(out, 'results.db')} (and results.jsonl); the cells in progress were dropped, not stored. Resume with: unlearn-bench run ${path} --out ${out}\n`);
    expect(result.stderr).not.toContain('was killed');
    expect(workers.some(running)).toBe(false);
    expect(stored(out)).toEqual({ cells: 6, failures: 0 });
    expect(existsSync(join(out, 'run.stop'))).toBe(false);
  } finally {
    parent.kill('SIGKILL');
    for (const pid of workers) if (running(pid)) process.kill(pid, 'SIGKILL');
  }
  // The resume computes the two stopped cells only (slow-train now within its budget), here in
  // this process: the slow part is over.
  process.env.UB_FIXTURE_QUICK = '1';
  const resumed = await runInProcess(['run', path, '--out', out, '--backend', 'cpu', '--workers', '1', '--quiet']).finally(() => delete process.env.UB_FIXTURE_QUICK);
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toContain('2 cell(s) computed, 6 skipped (finished earlier), 0 failed');
  expect(stored(out)).toEqual({ cells: 8, failures: 0 });
}

/** Workers in a synchronous loop cannot stop at a safe point; a second SIGINT ends them at once. */
async function secondSignalStopsAtOnce(): Promise<void> {
  const path = manifest('stop-at-once', [{ use: 'faults/busy' }]);
  const out = tempDir();
  const parent = runBin(['run', path, '--out', out, '--backend', 'cpu', '--workers', '2', '--quiet']);
  let workers: number[] = [];
  try {
    expect(await waitFor(() => storedSoFar(out).cells === 4, 90)).toBe(true);
    workers = workersOf(parent.pid);
    expect(workers).toHaveLength(2);
    parent.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 1500));
    expect(workers.every(running)).toBe(true); // busy for 60 s: the first SIGINT cannot stop them
    const sent = performance.now();
    parent.kill('SIGINT');
    const result = await parent.done;
    expect((performance.now() - sent) / 1000).toBeLessThan(5);
    expect(result.code).toBe(130);
    expect(result.stderr).toContain(`SIGINT again: stopped the workers at once. The cells finished so far are saved in ${out}; resume with: unlearn-bench run ${path} --out ${out}\n`);
    expect(await waitFor(() => !workers.some(running), 5)).toBe(true);
    expect(stored(out)).toEqual({ cells: 4, failures: 0 });
    expect(existsSync(join(out, 'run.lock'))).toBe(false);
    expect(existsSync(join(out, 'run.stop'))).toBe(false);
  } finally {
    parent.kill('SIGKILL');
    for (const pid of workers) if (running(pid)) process.kill(pid, 'SIGKILL');
  }
}

describe('a signal to a --workers run', () => {
  it('stops the workers inside a plugin training loop with exit 130, and the resume computes only the stopped cells; a second SIGINT stops at once', async () => {
    await Promise.all([stopInsidePluginTraining(), secondSignalStopsAtOnce()]);
  });
});
