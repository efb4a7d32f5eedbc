import { createRng, type ResultRecord, type ResultSpec, type SummaryResult } from '@unlearn-bench/core';
import { describe, expect, it } from 'vitest';
import { benjaminiHochbergAdjust, holmAdjust, pairedBinaryTest, pairedTTest } from '../stats.ts';
import { aggregatesOf, record } from '../summary-fixture.ts';
import { verdictMetric, type VerdictOptions } from './index.ts';

const defaults: VerdictOptions = { alpha: 0.05, correction: 'holm', margins: {}, metrics: ['*'] };
const ACC: Record<string, ResultSpec> = { acc: { margin: 0.01, range: [0, 1] } };
const GUS: Record<string, ResultSpec> = { gus: { margin: 0.1, null: 'standard-normal-scores' } };

function judge(records: readonly ResultRecord[], specs: Record<string, ResultSpec>, options: Partial<VerdictOptions> = {}): SummaryResult {
  return verdictMetric.summarize({ aggregates: aggregatesOf(records, specs) }, { ...defaults, ...options });
}

function verdictOf(result: SummaryResult, unlearner: string, metric = 'acc'): unknown {
  return result.cells.find((c) => c.unlearner === unlearner && c.metric === metric)?.fields?.verdict;
}

/** Records of `models` (besides retrain) on `seeds` seeds, each value `base + shift(model) + sd·N(0, 1)`. */
function simulate(rng: ReturnType<typeof createRng>, seeds: number, models: Record<string, number>, sd: number, base = 0.9): ResultRecord[] {
  const out: ResultRecord[] = [];
  for (let s = 1; s <= seeds; s++) {
    out.push(record(s, 'retrain', 'acc', base + sd * rng.normal()));
    for (const [model, shift] of Object.entries(models)) out.push(record(s, model, 'acc', base + shift + sd * rng.normal()));
  }
  return out;
}

describe('paired t-test, TOST and multiplicity corrections against SciPy', () => {
  it('matches scipy.stats.ttest_1samp and a TOST computed with scipy.stats.t', () => {
    // SciPy 1.17: ttest_1samp([0.012, -0.003, 0.007, 0.015, 0.001], 0) → p = 0.12789000542139697;
    // TOST with margin 0.01: max(1 − T₄((m̄ + δ)/se), T₄((m̄ − δ)/se)) = 0.17092548098872792;
    // 95% interval m̄ ± t₀.₉₇₅,₄·se = [−0.0028751552672444747, 0.015675155267244476].
    const test = pairedTTest([0.012, -0.003, 0.007, 0.015, 0.001], 0.01);
    expect(test.p).toBeCloseTo(0.12789000542139697, 10);
    expect(test.tostP).toBeCloseTo(0.17092548098872792, 10);
    expect(test.ci95[0]).toBeCloseTo(-0.0028751552672444747, 12);
    expect(test.ci95[1]).toBeCloseTo(0.015675155267244476, 12);
    // Two seeds: ttest_1samp([0.3, -0.1], 0) → p = 0.7048327646991335.
    expect(pairedTTest([0.3, -0.1]).p).toBeCloseTo(0.7048327646991335, 10);
    expect(pairedTTest([0.3]).p).toBeNaN();
  });

  it('judges zero-spread differences exactly instead of dividing by rounding noise', () => {
    const same = pairedTTest([0.0915 - 0.0915, 0, 1e-17], 0.01);
    expect(same.p).toBe(1);
    expect(same.tostP).toBe(0);
    const shifted = pairedTTest([0.02, 0.02, 0.02], 0.01);
    expect(shifted.p).toBe(0);
    expect(shifted.tostP).toBe(1);
  });

  it('tests one 0/1 outcome per seed exactly: McNemar on the discordant seeds, binomial equivalence, Clopper–Pearson intervals', () => {
    // b = 5 seeds flipped by the model only, c = 0: scipy.stats.binomtest(0, 5, 0.5).pvalue = 0.0625.
    const five = pairedBinaryTest([1, 1, 1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0], 0.1);
    expect(five.p).toBeCloseTo(0.0625, 12);
    expect(five.mean).toBe(5 / 8);
    // Eight concordant seeds do not show |d| < 0.1: P(Bin(8, 0.1) ≤ 0) = 0.9⁸ = 0.43046721.
    const same = pairedBinaryTest([1, 0, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0], 0.1);
    expect(same.tostP).toBeCloseTo(0.43046721, 8);
    expect(same.p).toBe(1);
    // Forty concordant seeds do: 0.9⁴⁰ = 0.0147808829.
    expect(pairedBinaryTest(Array(40).fill(0), Array(40).fill(0), 0.1).tostP).toBeCloseTo(0.0147808829, 9);
    // The interval of d contains the observed difference and stays in [−1, 1].
    expect(five.ci95[0]).toBeLessThan(5 / 8);
    expect(five.ci95[1]).toBeLessThanOrEqual(1);
    const records = [1, 2, 3, 4, 5, 6, 7, 8].flatMap((s) => [record(s, 'retrain', 'hit', s === 1 ? 1 : 0), record(s, 'gd', 'hit', s === 1 ? 1 : 0)]);
    const result = judge(records, { hit: { margin: 0.1, range: [0, 1] } });
    expect(result.cells.find((c) => c.unlearner === 'gd')?.fields).toMatchObject({ verdict: 'inconclusive', test: 'exact McNemar + binomial equivalence (0/1 per seed)' });
    expect(result.rule).toContain('exact McNemar test on the discordant seeds');
  });

  it("adjusts p-values as Holm's step-down and Benjamini–Hochberg's step-up procedures do", () => {
    // Holm by hand: sorted 0.005·4, 0.01·3, 0.03·2, 0.04·1, each at least the previous.
    expect(holmAdjust([0.01, 0.04, 0.03, 0.005])).toEqual([0.03, 0.06, 0.06, 0.02]);
    // scipy.stats.false_discovery_control([0.01, 0.04, 0.03, 0.005], method='bh') → [0.02, 0.04, 0.04, 0.02]
    const bh = benjaminiHochbergAdjust([0.01, 0.04, 0.03, 0.005]);
    [0.02, 0.04, 0.04, 0.02].forEach((v, i) => expect(bh[i]).toBeCloseTo(v, 12));
    expect(holmAdjust([Number.NaN, 0.02])).toEqual([Number.NaN, 0.02]);
  });
});

describe('core/verdict error rates (simulation)', () => {
  const TRIALS = 1000;
  // Binomial standard error of a rate near 0.05 over 1,000 trials is 0.0069: the slack is 3 of them.
  const SLACK = 0.021;

  it.each([2, 3, 8])('calls replicas of retraining different at no more than α (family-wise, Holm) with %i seeds', (seeds) => {
    const rng = createRng(100 + seeds);
    let anyDifferent = 0;
    let uncorrected = 0;
    for (let t = 0; t < TRIALS; t++) {
      const records = simulate(rng, seeds, { a: 0, b: 0, c: 0, replica: 0 }, 0.005);
      const result = judge(records, ACC);
      if (result.cells.some((c) => c.fields?.verdict === 'different')) anyDifferent++;
      // A vanishing margin switches equivalence off, leaving the bare t-test.
      const raw = judge(records, ACC, { correction: 'none', margins: { acc: 1e-12 } });
      uncorrected += raw.cells.filter((c) => c.fields?.verdict === 'different').length;
    }
    expect(anyDifferent / TRIALS).toBeLessThanOrEqual(0.05 + SLACK);
    // Each uncorrected t-test alone rejects at its nominal rate (the old gap rule: 29.5% at 2 seeds).
    expect(uncorrected / (4 * TRIALS)).toBeGreaterThan(0.05 - SLACK);
    expect(uncorrected / (4 * TRIALS)).toBeLessThan(0.05 + SLACK);
  });

  it('calls a true shift of three margins different with power ≥ 0.8 at 8 seeds (Holm over 4 tests)', () => {
    const rng = createRng(7);
    let detected = 0;
    for (let t = 0; t < TRIALS; t++) {
      // Per-seed sd of each model = one margin, so the paired differences have sd √2 margins.
      const result = judge(simulate(rng, 8, { shifted: 0.03, a: 0, b: 0, c: 0 }, 0.01), ACC);
      if (verdictOf(result, 'shifted') === 'different') detected++;
    }
    expect(detected / TRIALS).toBeGreaterThanOrEqual(0.8);
  });

  it('calls a difference inside half the margin with small noise equivalent at 8 seeds', () => {
    const rng = createRng(8);
    let equivalent = 0;
    for (let t = 0; t < TRIALS; t++) {
      const result = judge(simulate(rng, 8, { close: 0.0025 }, 0.002), ACC);
      if (verdictOf(result, 'close') === 'equivalent') equivalent++;
    }
    expect(equivalent / TRIALS).toBeGreaterThanOrEqual(0.95);
  });

  it('calls a difference of exactly one margin equivalent at no more than α (TOST is calibrated at the boundary)', () => {
    const rng = createRng(9);
    let equivalent = 0;
    for (let t = 0; t < TRIALS; t++) {
      if (verdictOf(judge(simulate(rng, 8, { edge: 0.01 }, 0.004), ACC), 'edge') === 'equivalent') equivalent++;
    }
    expect(equivalent / TRIALS).toBeLessThanOrEqual(0.05 + SLACK);
  });

  it('calls pooled GUS scores of models that never saw the poisons different at no more than α, and finds remembered and overshooting ones', () => {
    const rng = createRng(10);
    const k = 200;
    const seedRecords = (seed: number, unlearner: string, shift: number) => {
      let sum = 0;
      let squares = 0;
      for (let i = 0; i < k; i++) {
        const score = shift + rng.normal();
        sum += score;
        squares += score * score;
      }
      const mean = sum / k;
      const std = Math.sqrt((squares - k * mean * mean) / (k - 1));
      return record(seed, unlearner, 'gus', Math.sqrt(k) * mean, { details: { mean, std, k } });
    };
    let anyDifferent = 0;
    for (let t = 0; t < TRIALS; t++) {
      const records = [1, 2].flatMap((s) => ['retrain', 'a', 'b', 'c'].map((m) => seedRecords(s, m, 0)));
      if (judge(records, GUS).cells.some((c) => c.fields?.verdict === 'different')) anyDifferent++;
    }
    expect(anyDifferent / TRIALS).toBeLessThanOrEqual(0.05 + SLACK);
    const result = judge([1, 2].flatMap((s) => [seedRecords(s, 'retrain', 0), seedRecords(s, 'none', -0.3), seedRecords(s, 'up', 0.3)]), GUS);
    expect(result.cells.find((c) => c.unlearner === 'none')?.fields).toMatchObject({ verdict: 'different', direction: 'remembered' });
    expect(result.cells.find((c) => c.unlearner === 'up')?.fields).toMatchObject({ verdict: 'different', direction: 'overshoot' });
    expect(result.cells.find((c) => c.unlearner === 'up')?.text).toMatch(/^≠ \+0\.\d+ \[.*\] overshoot$/);
  });
});

describe('core/verdict on diverged, short and mixed runs', () => {
  it('marks a model that diverged on any seed diverged, with no number, and the method diverged', () => {
    const records = [
      ...[1, 2, 3].map((s) => record(s, 'retrain', 'acc', 0.9 + s * 0.001)),
      record(1, 'ga', 'acc', 0.91),
      record(2, 'ga', 'acc', null, { diverged: 'non-finite weights after unlearning' }),
      record(3, 'ga', 'acc', 0.9),
    ];
    const aggregates = aggregatesOf(records, ACC);
    const ga = aggregates.find((a) => a.unlearner === 'ga')!;
    expect(ga).toMatchObject({ diverged: [2], divergedReason: 'non-finite weights after unlearning', n: 0, seeds: [1, 2, 3] });
    expect(ga.mean).toBeNaN();
    expect(ga.ci95.every(Number.isNaN)).toBe(true);
    const result = judge(records, ACC);
    expect(result.cells.find((c) => c.unlearner === 'ga')).toMatchObject({ text: 'diverged', fields: { verdict: 'diverged', meanDifference: null } });
    expect(result.rows?.find((r) => r.unlearner === 'ga')?.fields).toEqual({ methodVerdict: 'diverged' });
  });

  it('says insufficient with one paired seed, and gives no verdict to a metric without a margin', () => {
    const records = [record(1, 'retrain', 'acc', 0.9), record(1, 'gd', 'acc', 0.8), record(1, 'retrain', 'other', 1), record(1, 'gd', 'other', 2)];
    const result = judge(records, ACC);
    expect(verdictOf(result, 'gd')).toBe('insufficient');
    expect(result.cells.some((c) => c.metric === 'other')).toBe(false);
    expect(verdictOf(judge(records, ACC, { margins: { other: 0.5 } }), 'gd', 'other')).toBe('insufficient');
  });

  it('is equivalent for a method only when equivalent on every metric, different when different on any', () => {
    const specs = { acc: ACC.acc, auc: { margin: 0.03, range: [0, 1] as const } };
    const rows = (accShift: number, aucShift: number, aucNoise = 0) => {
      const out: ResultRecord[] = [];
      for (let s = 1; s <= 8; s++) {
        const jitter = (s % 3) * 0.0005;
        out.push(record(s, 'retrain', 'acc', 0.9 + jitter), record(s, 'retrain', 'auc', 0.5 + jitter));
        out.push(record(s, 'm', 'acc', 0.9 + accShift + jitter * 1.1), record(s, 'm', 'auc', 0.5 + aucShift + jitter * 0.9 + (s % 2 ? aucNoise : -aucNoise)));
      }
      return out;
    };
    const method = (accShift: number, aucShift: number, aucNoise = 0) => judge(rows(accShift, aucShift, aucNoise), specs).rows?.find((r) => r.unlearner === 'm')?.fields?.methodVerdict;
    expect(method(0, 0)).toBe('equivalent');
    expect(method(0.1, 0)).toBe('different');
    expect(method(0, 0, 0.05)).toBe('inconclusive');
  });

  it('states the test, α, the correction with its family size and the margins in the rule', () => {
    const result = judge(simulate(createRng(1), 3, { gd: 0 }, 0.005), ACC);
    expect(result.rule).toContain("two-sided paired t-test rejects d = 0 at α = 0.05 after Holm's correction over the 1 tests for this attack");
    expect(result.rule).toContain('90% interval of d lies inside ±margin (TOST at α = 0.05)');
    expect(result.rule).toContain('Margins: acc ±0.01');
  });
});
