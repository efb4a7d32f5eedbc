import { describe, expect, it } from 'vitest';
import { aggregate, formatSummary } from './summary.ts';
import type { ResultRecord } from './store.ts';

function record(seed: number, unlearner: string, metric: string, value: number | null, budget: number | null = null): ResultRecord {
  return {
    experiment: 'x', cell: `${seed}/${unlearner}/${budget}`, seed, attack: 'gaussian', unlearner, budget, role: unlearner === 'none' ? 'poisoned' : unlearner === 'retrain' ? 'retrained' : 'unlearned',
    metric, value, details: null, examples: 0, seconds: 0, budgetExamples: null, backend: 'cpu', manifestHash: 'h', attackExamples: 0, attackSeconds: 0,
  };
}

const records = [
  ...[1, 2, 3].map((seed, i) => record(seed, 'retrain', 'gus', [0.5, -1, 1.1][i])),
  ...[1, 2, 3].map((seed, i) => record(seed, 'none', 'gus', [-10, -12, -11][i])),
  ...[1, 2, 3].map((seed, i) => record(seed, 'gd', 'gus', [0, 1, -0.4][i], 0.05)),
];

describe('aggregate', () => {
  it('computes mean, sample std, a t-based 95% interval and the gap to retrain', () => {
    const none = aggregate(records).find((a) => a.unlearner === 'none')!;
    expect(none.mean).toBe(-11);
    expect(none.std).toBe(1);
    expect(none.ci95[0]).toBeCloseTo(-11 - 4.303 / Math.sqrt(3), 10); // t(0.975, 2) = 4.303
    expect(none.ci95[1]).toBeCloseTo(-11 + 4.303 / Math.sqrt(3), 10);
    const retrain = [0.5, -1, 1.1];
    const mean = retrain.reduce((a, b) => a + b) / 3;
    const sd = Math.sqrt(retrain.reduce((a, v) => a + (v - mean) ** 2, 0) / 2);
    expect(none.gapToRetrain).toBeCloseTo((-11 - mean) / sd, 12);
    expect(none.verdict).toBe('different');
    expect(aggregate(records).find((a) => a.unlearner === 'gd')!.verdict).toBe('indistinguishable');
    expect(aggregate(records).find((a) => a.unlearner === 'retrain')!.gapToRetrain).toBe(0);
  });

  it('leaves std, interval and gap undefined for a single seed', () => {
    const [single] = aggregate([record(1, 'retrain', 'gus', 0.3)]);
    expect(single.std).toBeNaN();
    expect(single.ci95[0]).toBeNaN();
    expect(single.verdict).toBe('n/a');
  });

  it('prints a table and a gap table', () => {
    expect(formatSummary(records)).toMatchInlineSnapshot(`
      "attack: gaussian   (mean ± std over 3 seeds)
      model                budget  gus
      -------------------  ------  ---------------
      none (poisoned)      -       -11.00 ± 1.00
      retrain (reference)  -       0.2000 ± 1.0817
      gd                   5%      0.2000 ± 0.7211

      gap to retrain, gaussian: (mean − retrain mean) / retrain std over seeds; ≈ if |gap| ≤ 2 (indistinguishable from retraining), ≠ otherwise
      model            budget  gus
      ---------------  ------  -------
      none (poisoned)  -       ≠ -10.4
      gd               5%      ≈ 0.0"
    `);
  });
});
