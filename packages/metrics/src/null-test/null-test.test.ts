import { createRng, type SeedAggregate } from '@unlearn-bench/core';
import { describe, expect, it } from 'vitest';
import { formatP, nullTestMetric, stouffer, type NullTestOptions } from './index.ts';

const options: NullTestOptions = { metrics: ['gus', 'gus:fresh-noise'], alpha: 0.01 };

/** An aggregate over `values` (one per seed), as core's summary computes it. */
function aggregate(unlearner: string, metric: string, values: number[]): SeedAggregate {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  const role = unlearner === 'none' ? 'poisoned' : unlearner === 'retrain' ? 'retrained' : 'unlearned';
  return { attack: 'gaussian', unlearner, budget: role === 'unlearned' ? 0.1 : null, role, metric, mean, std, ci95: [Number.NaN, Number.NaN], n, seeds: values.map((_, i) => i + 1) };
}

describe('core/null-test', () => {
  it("combines seeds by Stouffer's method: z = Σzᵢ/√n with the two-sided normal p", () => {
    // Σ = 4 over 4 seeds: z = 2, p = 2·(1 − Φ(2)) = 0.0455002638 (normal table)
    expect(stouffer(1, 4).z).toBeCloseTo(2, 12);
    expect(stouffer(1, 4).p).toBeCloseTo(0.0455002638, 8);
    // z = −3: p = 0.0026997961
    expect(stouffer(-3 / Math.sqrt(3), 3).p).toBeCloseTo(0.0026997961, 8);
    expect(stouffer(Number.NaN, 3).z).toBeNaN();
    expect(stouffer(1, 0).p).toBeNaN();
  });

  it('reads ≠ null for a remembered poison and ≈ null for the retrained model and the control; exports z and p', () => {
    const result = nullTestMetric.summarize(
      {
        aggregates: [
          aggregate('none', 'gus', [-11.3, -13.3]),
          aggregate('retrain', 'gus', [1.3, -1.0]),
          aggregate('none', 'gus:fresh-noise', [0.4, -1.4]),
          aggregate('none', 'accuracy', [0.95, 0.94]),
        ],
      },
      options,
    );
    expect(result.cells.map((c) => [c.unlearner, c.metric, c.text])).toEqual([
      ['none', 'gus', `≠ -17.4 (p ${formatP(stouffer(-12.3, 2).p)})`],
      // z = 0.15·√2 = 0.212, p = 2·(1 − Φ(0.212)) = 0.832; z = −0.5·√2 = −0.707, p = 0.480 (normal table)
      ['retrain', 'gus', '≈ 0.2 (p 0.832)'],
      ['none', 'gus:fresh-noise', '≈ -0.7 (p 0.480)'],
    ]);
    expect(result.cells[0].fields).toMatchObject({ nullVerdict: 'not null' });
    expect(result.cells[0].fields!.stoufferZ).toBeCloseTo(-12.3 * Math.SQRT2, 10);
    expect(result.rule).toContain('p < 0.01');
    // without values (GUS where no Gaussian poisons were planted) the cell is exported, not printed
    const empty = nullTestMetric.summarize({ aggregates: [{ ...aggregate('none', 'gus', [1, 2]), mean: Number.NaN, n: 0 }] }, options);
    expect(empty.cells[0].text).toBeUndefined();
    expect(empty.cells[0].fields).toMatchObject({ nullVerdict: 'n/a', stoufferZ: null, nullP: null });
  });

  it('rejects at the nominal rate when every seed is N(0, 1) (the known null distribution)', () => {
    const rng = createRng(42);
    const trials = 20_000;
    let rejected = 0;
    for (let t = 0; t < trials; t++) {
      const values = rng.normalArray(3);
      const { p } = stouffer((values[0] + values[1] + values[2]) / 3, 3);
      if (p < 0.05) rejected++;
    }
    // Binomial(20 000, 0.05): mean 1,000, sd 30.8; ±5 sd
    expect(rejected).toBeGreaterThan(1000 - 154);
    expect(rejected).toBeLessThan(1000 + 154);
  });

  it('formats p-values for tables', () => {
    expect(formatP(0.04550026)).toBe('0.046');
    expect(formatP(3.14e-7)).toBe('3.1e-7');
    expect(formatP(0)).toBe('<1e-300');
    expect(formatP(Number.NaN)).toBe('n/a');
  });
});
