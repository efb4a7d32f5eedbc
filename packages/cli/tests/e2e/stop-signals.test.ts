/**
 * SIGINT and SIGTERM stop a run at a safe point (issue 20): the run says what is saved and how to
 * resume, exits 130 (SIGINT) or 143 (SIGTERM), stores no half cell and records no failure. The
 * reference models train in steps that let the event loop turn, so a signal lands within training.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { longRunningManifest, running, waitFor, workersOf } from './concurrency.ts';
import { resolve } from 'node:path';
import { runBin, stored, tempDir, writeManifest } from './helpers.ts';

const manifest = writeManifest(longRunningManifest('stop-signals'));

/** Starts a sequential run, signals it once its first model trains, and checks how it ends. */
async function stopDuringTraining(signal: 'SIGINT' | 'SIGTERM', code: number): Promise<void> {
  const out = tempDir();
  let stderr = '';
  const run = runBin(['run', manifest, '--out', out, '--backend', 'cpu', '--workers', '1'], { onStderr: (text) => (stderr = text) });
  try {
    expect(await waitFor(() => stderr.includes('poisoned · epoch'), 60)).toBe(true); // thousands of epochs to go
    const sent = performance.now();
    run.kill(signal);
    const result = await run.done;
    expect((performance.now() - sent) / 1000).toBeLessThan(5);
    expect(result.signal).toBeNull();
    expect(result.code).toBe(code);
    const again = signal === 'SIGINT' ? 'Press Ctrl-C again' : 'Send it again';
    expect(result.stderr).toContain(`\n${signal} received: stopping at the next safe point; finished cells are kept. ${again} to stop at once.\n`);
    expect(result.stderr).toContain(
      `stopped (${signal}): 0 of 6 cell(s) are finished and saved in ${join(out, 'results.db')} (and results.jsonl); the cells in progress were dropped, not stored. Resume with: unlearn-bench run ${manifest} --out ${out}\n`,
    );
    expect(result.stdout).toBe(''); // no table of a stopped run
    expect(stored(out)).toEqual({ cells: 0, failures: 0 });
    expect(existsSync(join(out, 'run.lock'))).toBe(false);
  } finally {
    run.kill('SIGKILL');
  }
}

describe('a signal during a sequential run', () => {
  it('SIGINT stops within training with exit 130, SIGTERM with 143; nothing half-done is stored', async () => {
    await Promise.all([stopDuringTraining('SIGINT', 130), stopDuringTraining('SIGTERM', 143)]);
  });
});

describe('a second signal during a sequential run', () => {
  it('stops at once even while a plugin computes synchronously (the supervising parent kills its worker), leaving no process behind', async () => {
    const path = writeManifest({
      ...longRunningManifest('stop-busy'),
      plugins: [resolve(import.meta.dirname, 'fixtures/plugins/faults.mjs')],
      seeds: [1],
      training: { epochs: 2, batchSize: 50, learningRate: 0.01 },
      unlearners: [{ use: 'faults/busy' }],
    });
    const out = tempDir();
    let stderr = '';
    const run = runBin(['run', path, '--out', out, '--backend', 'cpu'], { onStderr: (text) => (stderr = text) });
    try {
      expect(await waitFor(() => stderr.includes('faults/busy'), 60)).toBe(true);
      await new Promise((r) => setTimeout(r, 300)); // into its 60 s loop
      const workers = workersOf(run.pid);
      expect(workers).toHaveLength(1);
      run.kill('SIGINT');
      expect(await waitFor(() => stderr.includes('SIGINT received: stopping at the next safe point'), 10)).toBe(true);
      const sent = performance.now();
      run.kill('SIGINT');
      const result = await run.done;
      expect((performance.now() - sent) / 1000).toBeLessThan(5);
      expect(result.code).toBe(130);
      expect(result.stderr).toContain(`SIGINT again: stopping at once. The cells finished so far are saved in ${out}; resume with:`);
      expect(await waitFor(() => !running(workers[0]), 5)).toBe(true);
      expect(existsSync(join(out, 'run.lock'))).toBe(false);
      expect(stored(out).failures).toBe(0); // a stop is no failure
    } finally {
      run.kill('SIGKILL');
    }
  });
});
