import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatAjvErrors,
  formatSummary,
  getOrCreateValidator,
  Registry,
  selectSummaryMetrics,
  writeSummaryJsonl,
  type ResultRecord,
  type SeedAggregate,
  type SummaryResult,
} from '@unlearn-bench/core';
import { describe, expect, it } from 'vitest';
import { metricsPlugin } from '../index.ts';
import { gapToRetrainMetric, type GapToRetrainOptions } from './index.ts';

/** Options through the metric's own schema, as a manifest would give them. */
function options(given: object = {}): GapToRetrainOptions {
  const data = structuredClone(given);
  const validate = getOrCreateValidator(gapToRetrainMetric.optionsSchema);
  if (!validate(data)) throw new Error(JSON.stringify(formatAjvErrors(validate.errors ?? [], data, 'options')));
  return data as GapToRetrainOptions;
}

/** An aggregate written by hand (mean and std worked out below, not by the code under test). */
function agg(unlearner: string, metric: string, mean: number, std: number, n = 3, budget: number | null = unlearner === 'none' || unlearner === 'retrain' ? null : 0.05): SeedAggregate {
  const role = unlearner === 'none' ? 'poisoned' : unlearner === 'retrain' ? 'retrained' : 'unlearned';
  return { attack: 'gaussian', unlearner, budget, role, metric, mean, std, ci95: [Number.NaN, Number.NaN], n, seeds: [1, 2, 3].slice(0, n) };
}

// Hand computation. retrain gus over seeds = 1, 2, 3 → mean 2, sample std sqrt(((−1)² + 0² + 1²) / 2) = 1.
// gd gus = 4, 5, 6 → mean 5 → gap (5 − 2) / 1 = 3 → ≠ at threshold 2.  ssd gus = 2.5, 1.5, 2.3 → mean 2.1 → gap 0.1 → ≈.
// retrain accuracy = 0.9 on every seed → std 0 → n/a for everyone.  none gus = −10 → gap −12 → ≠.
const aggregates: SeedAggregate[] = [
  agg('retrain', 'gus', 2, 1),
  agg('none', 'gus', -10, 0.5),
  agg('gd', 'gus', 5, 1),
  agg('ssd', 'gus', 2.1, 0.5),
  agg('retrain', 'gus:fresh-noise', 0, 2),
  agg('gd', 'gus:fresh-noise', 1, 2),
  agg('ssd', 'gus:fresh-noise', 5, 2),
  agg('retrain', 'accuracy', 0.9, 0),
  agg('gd', 'accuracy', 0.8, 0.01),
  agg('ssd', 'accuracy', 0.9, 0.01),
];

const cell = (result: SummaryResult, unlearner: string, metric: string) => result.cells.find((c) => c.unlearner === unlearner && c.metric === metric);
const row = (result: SummaryResult, unlearner: string) => result.rows?.find((r) => r.unlearner === unlearner);

describe('core/gap-to-retrain', () => {
  it('gives the hand-computed gap, per-metric verdict and per-method verdict', () => {
    const result = gapToRetrainMetric.summarize({ aggregates }, options());
    expect(cell(result, 'gd', 'gus')).toMatchObject({ text: '≠ 3.0', fields: { gapToRetrain: 3, verdict: 'different' } });
    expect(cell(result, 'ssd', 'gus')!.fields!.gapToRetrain).toBeCloseTo(0.1, 12);
    expect(cell(result, 'ssd', 'gus')).toMatchObject({ text: '≈ 0.1', fields: { verdict: 'indistinguishable' } });
    expect(cell(result, 'none', 'gus')).toMatchObject({ text: '≠ -12.0', fields: { gapToRetrain: -12, verdict: 'different' } });
    expect(cell(result, 'gd', 'gus:fresh-noise')).toMatchObject({ text: '≈ 0.5', fields: { gapToRetrain: 0.5 } });
    expect(cell(result, 'ssd', 'gus:fresh-noise')).toMatchObject({ text: '≠ 2.5', fields: { verdict: 'different' } });
    // The retrained row is exported (gap 0) but not printed.
    expect(cell(result, 'retrain', 'gus')).toEqual({ attack: 'gaussian', unlearner: 'retrain', budget: null, metric: 'gus', fields: { gapToRetrain: 0, verdict: 'indistinguishable' } });
    expect(row(result, 'retrain')!.text).toBeUndefined();
    // gd: ≠ on gus → ≠ overall; ssd: ≈ on gus but ≠ on gus:fresh-noise → ≠ overall.
    expect(row(result, 'gd')).toMatchObject({ text: '≠ retrain', fields: { methodVerdict: 'different' } });
    expect(row(result, 'ssd')).toMatchObject({ text: '≠ retrain', fields: { methodVerdict: 'different' } });
    expect(result.rule).toContain('≈ if |gap| ≤ 2 (indistinguishable from retraining), ≠ otherwise');
    expect(result.notes).toEqual([]);
  });

  it('is n/a where the retrained std is 0, and leaves n/a metrics out of the method verdict', () => {
    const result = gapToRetrainMetric.summarize({ aggregates }, options({ metrics: ['gus', 'gus:*', 'accuracy'], threshold: 3 }));
    expect(cell(result, 'gd', 'accuracy')).toMatchObject({ text: 'n/a', fields: { gapToRetrain: Number.NaN, verdict: 'n/a' } });
    expect(cell(result, 'ssd', 'accuracy')!.fields!.verdict).toBe('n/a');
    // 'gus:*' selects gus:fresh-noise; at threshold 3, gd's gus gap of exactly 3 counts as ≈.
    expect(cell(result, 'gd', 'gus')).toMatchObject({ text: '≈ 3.0', fields: { verdict: 'indistinguishable' } });
    expect(cell(result, 'ssd', 'gus:fresh-noise')!.fields!.verdict).toBe('indistinguishable');
    expect(row(result, 'gd')).toMatchObject({ text: '≈ retrain', fields: { methodVerdict: 'indistinguishable' } });
    expect(row(result, 'ssd')!.fields!.methodVerdict).toBe('indistinguishable');
    expect(result.rule).toContain('|gap| ≤ 3');
    expect(result.rule).toContain('every compared metric (gus, gus:*, accuracy)');
  });

  it('compares only the chosen metrics and notes a name the run does not have', () => {
    const result = gapToRetrainMetric.summarize({ aggregates }, options({ metrics: ['gus:fresh-noise', 'acuracy'] }));
    expect([...new Set(result.cells.map((c) => c.metric))]).toEqual(['gus:fresh-noise']);
    expect(row(result, 'gd')!.fields!.methodVerdict).toBe('indistinguishable');
    // An exact name selects only itself.
    expect([...new Set(gapToRetrainMetric.summarize({ aggregates }, options({ metrics: ['gus'] })).cells.map((c) => c.metric))]).toEqual(['gus']);
    expect(result.notes).toEqual(["options.metrics names 'acuracy', which matches no metric here (present: gus, gus:fresh-noise, accuracy)."]);
    expect(gapToRetrainMetric.summarize({ aggregates }, options({ metrics: [] })).cells).toEqual([]);
  });

  it('is n/a with a single seed, and prints nothing then', () => {
    const single = [agg('retrain', 'gus', 0.3, Number.NaN, 1), agg('gd', 'gus', 5, Number.NaN, 1)];
    const result = gapToRetrainMetric.summarize({ aggregates: single }, options());
    expect(cell(result, 'gd', 'gus')).toEqual({ attack: 'gaussian', unlearner: 'gd', budget: 0.05, metric: 'gus', fields: { gapToRetrain: Number.NaN, verdict: 'n/a' } });
    expect(row(result, 'gd')).toEqual({ attack: 'gaussian', unlearner: 'gd', budget: 0.05, fields: { methodVerdict: 'n/a' } });
  });

  it('validates its options with the shared ajv', () => {
    expect(options()).toEqual({ threshold: 2, metrics: ['*'] });
    expect(() => options({ threshold: 0 })).toThrow('options.threshold');
    expect(() => options({ treshold: 2 })).toThrow("unknown property 'treshold'");
  });
});

function record(seed: number, unlearner: string, metric: string, value: number | null, budget: number | null = null): ResultRecord {
  return {
    experiment: 'x', cell: `${seed}/${unlearner}/${budget}`, seed, attack: 'gaussian', unlearner, budget, role: unlearner === 'none' ? 'poisoned' : unlearner === 'retrain' ? 'retrained' : 'unlearned',
    metric, value, details: null, examples: 0, seconds: 0, budgetExamples: null, backend: 'cpu', manifestHash: 'h', attackExamples: 0, attackSeconds: 0,
  };
}

describe('core/gap-to-retrain in the tables and summary.jsonl', () => {
  const registry = new Registry();
  registry.register(metricsPlugin);
  const records = [
    ...[1, 2, 3].map((seed, i) => record(seed, 'retrain', 'gus', [1, 2, 3][i])),
    ...[1, 2, 3].map((seed, i) => record(seed, 'none', 'gus', [-10, -12, -11][i])),
    ...[1, 2, 3].map((seed, i) => record(seed, 'gd', 'gus', [2, 1, 3.3][i], 0.05)),
  ];

  it('is registered as a metric and applied by default when a manifest does not list it', () => {
    expect(registry.get('metric', 'core/gap-to-retrain').definition).toBe(gapToRetrainMetric);
    const [selection] = selectSummaryMetrics([{ use: 'core/gus' }], registry);
    expect(selection).toMatchObject({ use: 'core/gap-to-retrain', label: 'gap-to-retrain', options: { threshold: 2, metrics: ['*'] } });
    const listed = selectSummaryMetrics([{ use: 'core/gap-to-retrain', label: 'gap', options: { threshold: 1 } }], registry);
    // the listed one with its options, then the other default (core/null-test) with its defaults
    expect(listed.map((s) => s.use)).toEqual(['core/gap-to-retrain', 'core/null-test']);
    expect(listed[0]).toMatchObject({ label: 'gap', options: { threshold: 1, metrics: ['*'] } });
    expect(() => selectSummaryMetrics([{ use: 'core/gap-to-retrain', options: { threshold: 'x' } }], registry, 'm.json')).toThrow(/Invalid manifest m\.json:\n {2}- metrics\[0\]\.options\.threshold/);
  });

  it('prints the gap table with the rule and the method verdict, and exports gap and verdicts', () => {
    const summaries = selectSummaryMetrics([], registry);
    const text = formatSummary(records, { summaries });
    // none: (−11 − 2) / 1 = −13; gd: mean 2.1 → 0.1.
    expect(text.split('\n\n')[1]).toBe(
      [
        'gap to retrain, gaussian: (mean − retrain mean) / retrain std over seeds; ≈ if |gap| ≤ 2 (indistinguishable from retraining), ≠ otherwise, n/a if retrain has < 2 seeds or std 0; verdict: ≈ retrain iff ≈ on every metric with a gap',
        'model            budget  gus      verdict',
        '---------------  ------  -------  ---------',
        'none (poisoned)  -       ≠ -13.0  ≠ retrain',
        'gd               5%      ≈ 0.1    ≈ retrain',
      ].join('\n'),
    );
    const dir = mkdtempSync(join(tmpdir(), 'gap-'));
    try {
      const lines = readFileSync(writeSummaryJsonl(dir, records, summaries), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const gd = lines.find((l) => l.unlearner === 'gd');
      expect(gd.gapToRetrain).toBeCloseTo(0.1, 12);
      expect(gd).toMatchObject({ verdict: 'indistinguishable', methodVerdict: 'indistinguishable', n: 3, role: 'unlearned' });
      expect(lines.find((l) => l.unlearner === 'none')).toMatchObject({ gapToRetrain: -13, verdict: 'different', methodVerdict: 'different' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
