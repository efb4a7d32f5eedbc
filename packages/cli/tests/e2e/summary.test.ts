/**
 * Summary metrics end to end: core/verdict runs by default, takes its options from the manifest
 * when listed (also in `report`), and choosing it recomputes no cell.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runInProcess, tempDir, writeManifest } from './helpers.ts';

const base = {
  name: 'summary-run',
  seeds: [1, 2],
  dataset: { use: 'core/synthetic-images', options: { shape: [6, 6, 1], trainSize: 200, testSize: 60 } },
  model: { use: 'core/mlp', options: { hidden: [8] } },
  training: { epochs: 3, batchSize: 32, learningRate: 0.05 },
  attacks: [{ use: 'core/gaussian', options: { count: 10 } }],
  unlearners: [{ use: 'core/gd' }],
  budgets: [0.2],
  metrics: [{ use: 'core/accuracy' }],
};

describe('core/verdict in a run', () => {
  it('prints the default verdict table, then the listed options without recomputing any cell', async () => {
    const out = tempDir();
    const first = await runInProcess(['run', writeManifest(base), '--out', out, '--quiet', '--workers', '1']);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('attack: gaussian   (mean ± std [95% interval of the mean] over 2 seeds)');
    expect(first.stdout).toMatch(/\nverdict against retraining, gaussian: cells: mean of d = model − retrain over paired seeds \[95% interval\]; ≈ equivalent if the 90% interval of d lies inside ±margin/);
    expect(first.stdout).toContain("after Holm's correction over the 2 tests for this attack");
    expect(first.stdout).toContain('Margins: accuracy ±0.01.');
    expect(first.stdout).toMatch(/\nmodel +budget +accuracy +verdict\n-+ +-+ +-+ +-+\nnone \(poisoned\) +- +[≈≠?] [-+]?\d\.\d+ \[[-+]?\d\.\d+, [-+]?\d\.\d+\] +(different|equivalent|inconclusive)\ngd +20% +[≈≠?] /);
    const lines = readFileSync(join(out, 'summary.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const gd = lines.find((l) => l.unlearner === 'gd' && l.metric === 'accuracy')!;
    expect(gd).toMatchObject({ n: 2, role: 'unlearned', pairs: 2, margin: 0.01, test: 'paired t-test + TOST', methodVerdict: expect.stringMatching(/^(different|equivalent|inconclusive)$/) });
    expect(['different', 'equivalent', 'inconclusive']).toContain(gd.verdict);
    // The paired difference from the per-seed values.
    const retrain = lines.find((l) => l.unlearner === 'retrain' && l.metric === 'accuracy')!;
    const d = (gd.values as number[]).map((v, i) => v - (retrain.values as number[])[i]);
    expect(gd.meanDifference as number).toBeCloseTo((d[0] + d[1]) / 2, 12);
    expect(lines.find((l) => l.metric === 'accuracy:drop')).not.toHaveProperty('verdict');

    const listed = { ...base, metrics: [...base.metrics, { use: 'core/verdict', label: 'v', options: { margins: { accuracy: 0.5 }, correction: 'none' } }] };
    const second = await runInProcess(['run', writeManifest(listed), '--out', out, '--quiet', '--workers', '1']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('0 cell(s) computed, 6 skipped (finished earlier), 0 failed');
    expect(second.stdout).toContain('no multiplicity correction');
    expect(second.stdout).toContain('Margins: accuracy ±0.5.');

    // report reads the options from the run's manifest (run.json).
    const report = await runInProcess(['report', out, '--markdown']);
    expect(report.code).toBe(0);
    expect(report.stdout).toContain('**verdict against retraining, gaussian: cells: mean of d');
    expect(report.stdout).toContain('Margins: accuracy ±0.5.');
    expect(report.stdout).toMatch(/\| model \| budget \| accuracy \| verdict \|\n\|---\|---\|---\|---\|\n\| none \(poisoned\) \| - \| [≈≠?] /);
  });

  it('rejects a bad option like any metric', async () => {
    const bad = { ...base, metrics: [{ use: 'core/verdict', options: { alpha: -1 } }] };
    const { code, stderr } = await runInProcess(['validate', writeManifest(bad)]);
    expect(code).toBe(2);
    expect(stderr).toContain('metrics[0].options.alpha');
  });
});
