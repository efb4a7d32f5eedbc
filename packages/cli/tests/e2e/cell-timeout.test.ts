/**
 * The manifest's `cellTimeout` (issue 20): a plugin whose promise never settles, or that loops
 * asynchronously forever, fails its cell after that many seconds with a message naming it; the
 * run goes on to the next cell and the process ends. A loop that never yields cannot be stopped
 * in its own process: the CLI computes in worker processes it supervises (one for a sequential
 * run), and kills and restarts one whose cell runs past the timeout plus a grace.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJsonl, runBin, runInProcess, stored, tempDir, writeManifest } from './helpers.ts';

const faults = resolve(import.meta.dirname, 'fixtures/plugins/faults.mjs');

const base = {
  name: 'cell-timeout',
  plugins: [faults],
  seeds: [1],
  dataset: { use: 'core/synthetic-images', options: { shape: [4, 4, 1], trainSize: 200, testSize: 50 } },
  model: { use: 'core/mlp', options: { hidden: [8] } },
  training: { epochs: 2, batchSize: 50, learningRate: 0.01 },
  attacks: [{ use: 'core/gaussian', options: { count: 10, sigma: 0.5 } }],
  budgets: [0.5],
  metrics: [{ use: 'core/accuracy' }],
};

const timedOut = (plugin: string) =>
  `${plugin} failed in unlearn: did not finish within the cell timeout of 2 s (the manifest's "cellTimeout"): it never settled, or loops. Its cell failed and the run went on; raise "cellTimeout" if it needs longer.`;

describe('cellTimeout', () => {
  it('fails a never-settling and an endlessly looping unlearner after it, names them, runs the next cell and ends the process', async () => {
    const path = writeManifest({ ...base, cellTimeout: 2, unlearners: [{ use: 'faults/never-settles' }, { use: 'faults/async-loop' }, { use: 'core/gd' }] });
    const out = tempDir();
    const start = performance.now();
    const result = await runBin(['run', path, '--out', out, '--backend', 'cpu', '--quiet']).done;
    // Two timeouts of 2 s, then the process ends although the async loop still runs in it.
    expect((performance.now() - start) / 1000).toBeLessThan(60);
    expect(result.code).toBe(1);
    const failed = result.stderr.split('\n').filter((line) => line.startsWith('failed: '));
    expect(failed.map((line) => line.replace(/#[0-9a-f]{12}/, ''))).toEqual([
      `failed: seed=1/attack=gaussian/unlearner=faults/never-settles/budget=50%: ${timedOut('faults/never-settles')}`,
      `failed: seed=1/attack=gaussian/unlearner=faults/async-loop/budget=50%: ${timedOut('faults/async-loop')}`,
    ]);
    expect(result.stdout).toContain('3 cell(s) computed, 0 skipped (finished earlier), 2 failed');
    const cells = new Set(readJsonl<{ unlearner: string }>(resolve(out, 'results.jsonl')).map((r) => r.unlearner));
    expect([...cells].sort()).toEqual(['gd', 'none', 'retrain']); // gd ran after the two that timed out
    expect(stored(out)).toEqual({ cells: 3, failures: 2 });
  });

  it('with worker processes, also fails a cell that computes synchronously past it: the parent kills and restarts its worker, and the run goes on', async () => {
    const path = writeManifest({ ...base, seeds: [1, 2], cellTimeout: 2, unlearners: [{ use: 'faults/busy' }, { use: 'core/gd' }] });
    const out = tempDir();
    const start = performance.now();
    const result = await runBin(['run', path, '--out', out, '--backend', 'cpu', '--workers', '2']).done;
    // Each worker: 2 s of timeout and 2 s of grace, a restart, then the rest (far less than the 60 s busy loop).
    expect((performance.now() - start) / 1000).toBeLessThan(45);
    expect(result.code).toBe(1);
    for (const seed of [1, 2]) {
      expect(result.stderr).toMatch(new RegExp(`worker [12]: seed ${seed} · gaussian · faults/busy @ 50% computed past the cell timeout of 2 s without returning; killing the worker`));
    }
    const cells = readJsonl<{ unlearner: string; seed: number }>(resolve(out, 'results.jsonl'));
    expect(new Set(cells.filter((r) => r.unlearner === 'gd').map((r) => r.seed))).toEqual(new Set([1, 2])); // gd ran after the restart
    expect(cells.some((r) => r.unlearner === 'faults/busy')).toBe(false);
    expect(stored(out)).toEqual({ cells: 6, failures: 2 });
    const report = await runInProcess(['report', out]);
    expect(report.stdout + report.stderr).toContain('never returned to the event loop (a synchronous loop), so worker');
  });

  it('in a sequential run too: the CLI computes in one worker process it supervises, so a synchronous loop is failed at the timeout and the run goes on', async () => {
    const path = writeManifest({ ...base, cellTimeout: 2, unlearners: [{ use: 'faults/busy' }, { use: 'core/gd' }] });
    const out = tempDir();
    const start = performance.now();
    const result = await runBin(['run', path, '--out', out, '--backend', 'cpu']).done;
    expect((performance.now() - start) / 1000).toBeLessThan(45); // far less than the 60 s busy loop
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('1 unfinished seed × attack group(s) in one supervised worker process');
    expect(result.stderr).toContain('worker 1: seed 1 · gaussian · faults/busy @ 50% computed past the cell timeout of 2 s without returning; killing the worker');
    expect(result.stderr).not.toContain('[worker 1]'); // a lone worker's lines are the run's own
    const cells = new Set(readJsonl<{ unlearner: string }>(resolve(out, 'results.jsonl')).map((r) => r.unlearner));
    expect([...cells].sort()).toEqual(['gd', 'none', 'retrain']); // gd ran after the restart
    expect(stored(out)).toEqual({ cells: 3, failures: 1 });
  });

  it('is a positive number of seconds, defaulting to an hour, and no part of the manifest hash', async () => {
    const invalid = await runInProcess(['validate', writeManifest({ ...base, cellTimeout: 0, unlearners: [{ use: 'core/gd' }] })]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('cellTimeout: must be > 0');
    const { loadManifest, Registry } = await import('@unlearn-bench/core');
    const { builtinPlugins } = await import('../../src/builtins.ts');
    const registry = new Registry();
    for (const plugin of builtinPlugins) registry.register(plugin);
    const plain = { ...base, plugins: [], unlearners: [{ use: 'core/gd' }] };
    const defaulted = loadManifest(writeManifest(plain), registry);
    const short = loadManifest(writeManifest({ ...plain, cellTimeout: 5 }), registry);
    expect(defaulted.cellTimeout).toBe(3600);
    expect(short.cellTimeout).toBe(5);
    expect(short.hash).toBe(defaulted.hash); // changing it recomputes nothing
  });
});
