import type { ResultSpec } from '@unlearn-bench/core';
import { describe, expect, it } from 'vitest';
import { poolScores, ratioInterval } from '../stats.ts';
import { aggregatesOf, record } from '../summary-fixture.ts';
import { formatP, nullTestMetric, stouffer, type NullTestOptions } from './index.ts';

const options: NullTestOptions = { metrics: ['*'], alpha: 0.01 };
const SPECS: Record<string, ResultSpec> = {
  gus: { margin: 0.1, null: 'standard-normal-scores' },
  'gus:fresh-noise': { margin: 0.1, null: 'standard-normal-scores' },
  accuracy: { margin: 0.01 },
};

/** A GUS record of one seed with per-poison scores of this mean and std over k poisons. */
const gus = (seed: number, unlearner: string, mean: number, std = 1, k = 400, metric = 'gus') => record(seed, unlearner, metric, Math.sqrt(k) * mean, { details: { mean, std, k } });

describe('core/null-test', () => {
  it("pools per-poison scores: z = √K·mean I, which is Stouffer's √n·mean z for equal k", () => {
    const pooled = poolScores([
      { mean: -0.5, std: 1, k: 400 },
      { mean: -0.7, std: 1, k: 400 },
    ]);
    expect(pooled.k).toBe(800);
    expect(pooled.mean).toBeCloseTo(-0.6, 12);
    expect(pooled.z).toBeCloseTo(stouffer((Math.sqrt(400) * -0.5 + Math.sqrt(400) * -0.7) / 2, 2).z, 10);
    // Pooled variance by hand: (399·1 + 399·1 + 400·0.01 + 400·0.01) / 799.
    expect(pooled.sd).toBeCloseTo(Math.sqrt((798 + 8) / 799), 12);
    // Φ(−2) = 0.0227501319 (normal table): one-sided p of the negative side.
    expect(poolScores([{ mean: -0.1, std: 1, k: 400 }]).pRemembered).toBeCloseTo(0.0227501319, 8);
    expect(stouffer(1, 4).p).toBeCloseTo(0.0455002638, 8);
  });

  it('computes the residual fraction with a delta-method interval, undefined when the poisoned mean is not clear of 0', () => {
    const r = ratioInterval(-0.3, 0.03, -0.6, 0.03);
    expect(r.ratio).toBeCloseTo(0.5, 12);
    // se = √(0.03² + 0.5²·0.03²) / 0.6
    const se = Math.sqrt(0.0009 + 0.25 * 0.0009) / 0.6;
    expect(r.ci95[0]).toBeCloseTo(0.5 - 1.959963984540054 * se, 12);
    expect(ratioInterval(-0.3, 0.03, -0.01, 0.03).ratio).toBeNaN();
  });

  it('reads remembered for a poisoned model, null for the retrained model and the control, and exports the pooled fields', () => {
    const records = [1, 2].flatMap((s) => [gus(s, 'none', -0.6), gus(s, 'retrain', 0.02), gus(s, 'gd', -0.3), gus(s, 'none', 0.01, 1, 400, 'gus:fresh-noise'), record(s, 'none', 'accuracy', 0.9)]);
    const result = nullTestMetric.summarize({ aggregates: aggregatesOf(records, SPECS) }, options);
    const fields = (unlearner: string, metric = 'gus') => result.cells.find((c) => c.unlearner === unlearner && c.metric === metric)?.fields;
    expect(fields('none')).toMatchObject({ nullVerdict: 'remembered', pooledScores: 800 });
    expect(fields('retrain')).toMatchObject({ nullVerdict: 'null' });
    expect(fields('none', 'gus:fresh-noise')).toMatchObject({ nullVerdict: 'null' });
    expect(fields('gd')?.residualFraction).toBeCloseTo(0.5, 10);
    expect(result.cells.some((c) => c.metric === 'accuracy')).toBe(false);
    expect(result.cells.find((c) => c.unlearner === 'none' && c.metric === 'gus')?.text).toMatch(/^≠ I -0\.600 \[-0\.\d+, -0\.\d+\], z -17\.0, p /);
  });

  it('flags a significantly positive mean as overshoot, not as a remembered poison', () => {
    const records = [1, 2].flatMap((s) => [gus(s, 'none', -0.6), gus(s, 'ga', 0.3)]);
    const result = nullTestMetric.summarize({ aggregates: aggregatesOf(records, SPECS) }, options);
    expect(result.cells.find((c) => c.unlearner === 'ga')?.fields).toMatchObject({ nullVerdict: 'overshoot' });
  });

  it('leaves out metrics without scores (GUS on an attack without Gaussian poisons) and diverged models', () => {
    const records = [record(1, 'none', 'gus', null, { details: { applicable: 0 } }), record(1, 'ga', 'gus', null, { diverged: 'non-finite weights' })];
    expect(nullTestMetric.summarize({ aggregates: aggregatesOf(records, SPECS) }, options).cells).toEqual([]);
  });

  it('formats p-values', () => {
    expect(formatP(0.0421)).toBe('0.042');
    expect(formatP(3.1e-7)).toBe('3.1e-7');
    expect(formatP(0)).toBe('<1e-300');
    expect(formatP(Number.NaN)).toBe('n/a');
  });
});
