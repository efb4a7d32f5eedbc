/**
 * Crash safety: a run killed with SIGKILL mid-way and started again finishes with exactly the
 * results of an uninterrupted run, recomputes none of the cells finished before the kill, stores
 * no duplicates, and (killed while training, not while appending a cell) leaves results.jsonl whole.
 */
import Database from 'better-sqlite3';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin, tempDir, writeManifest } from './helpers.ts';

const manifest = writeManifest({
  name: 'resume',
  seeds: [1, 2],
  dataset: { use: 'core/synthetic-images', options: { shape: [8, 8, 1], trainSize: 600, testSize: 200 } },
  model: { use: 'core/mlp', options: { hidden: [32] } },
  training: { epochs: 40, batchSize: 32, learningRate: 0.02 },
  attacks: [{ use: 'core/gaussian', options: { count: 30, sigma: 0.5 } }],
  unlearners: [{ use: 'core/gd' }],
  budgets: [0.1, 0.3, 0.5],
  metrics: [{ use: 'core/accuracy' }, { use: 'core/gus' }],
});

function readJsonl(dir: string): Record<string, unknown>[] {
  return readFileSync(join(dir, 'results.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

const comparable = (rows: Record<string, unknown>[]) =>
  rows.map(({ cell, metric, value, details, examples }) => ({ cell, metric, value, details, examples })).sort((a, b) => `${a.cell}${a.metric}`.localeCompare(`${b.cell}${b.metric}`));

describe('resume after SIGKILL', () => {
  it('completes with identical results and recomputes no finished cell', async () => {
    const reference = tempDir();
    const full = await runBin(['run', manifest, '--out', reference, '--backend', 'wasm', '--workers', '1']).done;
    expect(full.code, full.stderr).toBe(0);

    const out = tempDir();
    let killed = false;
    const first = runBin(['run', manifest, '--out', out, '--backend', 'wasm', '--workers', '1'], {
      onStderr: (text) => {
        // Kill while seed 2's models train: seed 1's five cells are finished by then.
        if (!killed && text.includes('seed 2 · gaussian · poisoned · epoch 5/')) {
          killed = true;
          first.kill('SIGKILL');
        }
      },
    });
    const interrupted = await first.done;
    expect(interrupted.signal).toBe('SIGKILL');

    const db = new Database(join(out, 'results.db'));
    const finishedBefore = (db.prepare('SELECT key FROM cells').all() as { key: string }[]).map((r) => r.key);
    db.close();
    expect(finishedBefore, interrupted.stderr).toHaveLength(5);
    // The export on disk is complete JSON lines for exactly those cells.
    expect(new Set(readJsonl(out).map((r) => r.cell))).toEqual(new Set(finishedBefore));

    const second = await runBin(['run', manifest, '--out', out, '--backend', 'wasm', '--workers', '1']).done;
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('5 cell(s) computed, 5 skipped (finished earlier), 0 failed');
    expect(second.stderr).toContain('5 cell(s) already finished');

    const rows = readJsonl(out);
    expect(comparable(rows)).toEqual(comparable(readJsonl(reference)));
    const keys = rows.map((r) => `${String(r.cell)}|${String(r.metric)}`);
    expect(new Set(keys).size).toBe(keys.length);

    const check = new Database(join(out, 'results.db'), { readonly: true });
    const byRun = check.prepare('SELECT run_id, COUNT(*) AS n FROM cells GROUP BY run_id ORDER BY run_id').all();
    check.close();
    expect(byRun).toEqual([{ run_id: 1, n: 5 }, { run_id: 2, n: 5 }]);
    expect([...readdirSync(out), ...readdirSync(join(out, 'models'))].filter((f) => f.includes('.tmp-'))).toEqual([]);

    // Two worker processes give exactly the sequential results.
    const parallel = tempDir();
    const split = await runBin(['run', manifest, '--out', parallel, '--backend', 'wasm', '--workers', '2']).done;
    expect(split.code, split.stderr).toBe(0);
    expect(split.stderr).toContain('2 unfinished seed × attack group(s) over 2 worker processes');
    expect(split.stdout).toContain('10 cell(s) computed, 0 skipped (finished earlier), 0 failed');
    expect(comparable(readJsonl(parallel))).toEqual(comparable(readJsonl(reference)));
  });
});
