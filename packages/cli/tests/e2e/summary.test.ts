/**
 * Summary metrics end to end: core/gap-to-retrain runs by default, takes its options from the
 * manifest when listed (also in `report`), and choosing it recomputes no cell.
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

describe('core/gap-to-retrain in a run', () => {
  it('prints the default gap table, then the listed options without recomputing any cell', async () => {
    const out = tempDir();
    const first = await runInProcess(['run', writeManifest(base), '--out', out, '--quiet', '--workers', '1']);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('attack: gaussian   (mean ± std [95% t-interval of the mean] over 2 seeds)');
    expect(first.stdout).toMatch(/\ngap to retrain, gaussian: .*≈ if \|gap\| ≤ 2 \(indistinguishable from retraining\).*verdict: ≈ retrain iff ≈ on every metric with a gap\nmodel +budget +accuracy +accuracy:drop +verdict\n/);
    expect(first.stdout).toMatch(/\ngd +20% +[≈≠] -?\d+\.\d +(n\/a|[≈≠] -?\d+\.\d) +[≈≠] retrain\n/);
    const lines = readFileSync(join(out, 'summary.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const gd = lines.find((l) => l.unlearner === 'gd' && l.metric === 'accuracy')!;
    expect(gd).toMatchObject({ n: 2, role: 'unlearned', methodVerdict: expect.stringMatching(/^(indistinguishable|different)$/) });
    expect(['indistinguishable', 'different']).toContain(gd.verdict);
    expect(typeof gd.gapToRetrain).toBe('number');

    const listed = { ...base, metrics: [...base.metrics, { use: 'core/gap-to-retrain', label: 'gap', options: { threshold: 1e9, metrics: ['accuracy'] } }] };
    const second = await runInProcess(['run', writeManifest(listed), '--out', out, '--quiet', '--workers', '1']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('0 cell(s) computed, 6 skipped (finished earlier), 0 failed');
    expect(second.stdout).toContain('≈ if |gap| ≤ 1000000000 (indistinguishable from retraining)');
    expect(second.stdout).toContain('verdict: ≈ retrain iff ≈ on every compared metric (accuracy) with a gap');
    expect(second.stdout).toMatch(/\nmodel +budget +accuracy +verdict\n-+ +-+ +-+ +-+\nnone \(poisoned\) +- +≈ -?\d+\.\d +≈ retrain\ngd +20% +≈ -?\d+\.\d +≈ retrain\n/);

    // report reads the options from the run's manifest (run.json).
    const report = await runInProcess(['report', out, '--markdown']);
    expect(report.code).toBe(0);
    expect(report.stdout).toContain('**gap to retrain, gaussian: (mean − retrain mean) / retrain std over seeds; ≈ if |gap| ≤ 1000000000');
    expect(report.stdout).toMatch(/\| model \| budget \| accuracy \| verdict \|\n\|---\|---\|---\|---\|\n\| none \(poisoned\) \| - \| ≈ -?\d+\.\d \| ≈ retrain \|/);
  });

  it('rejects a bad option like any metric', async () => {
    const bad = { ...base, metrics: [{ use: 'core/gap-to-retrain', options: { threshold: -1 } }] };
    const { code, stderr } = await runInProcess(['validate', writeManifest(bad)]);
    expect(code).toBe(2);
    expect(stderr).toContain('metrics[0].options.threshold');
  });
});
