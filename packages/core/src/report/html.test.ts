import { describe, expect, it } from 'vitest';
import { defineSummaryMetric } from '../plugin/define.ts';
import type { ResultRecord } from '../runner/store.ts';
import type { SummarySelection } from '../runner/summary.ts';
import { buildHtmlReport } from './html.ts';
import { binScores, metricChartSpec, normalDensity, scoreHistogramSpec, verdictMatrixSpec } from './specs.ts';

type Spec = { layer?: Spec[]; spec?: Spec; mark?: { type: string } | string; data?: { values: Record<string, unknown>[] } };
const marks = (spec: Spec): string[] => [...(spec.layer ?? []).flatMap(marks), ...(spec.spec ? marks(spec.spec) : []), ...(spec.mark ? [typeof spec.mark === 'string' ? spec.mark : spec.mark.type] : [])];

function rec(seed: number, unlearner: string, budget: number | null, metric: string, value: number | null, extra: Partial<ResultRecord> = {}): ResultRecord {
  const role = unlearner === 'none' ? 'poisoned' : unlearner === 'retrain' ? 'retrained' : 'unlearned';
  return {
    experiment: 'fixture', cell: `seed=${seed}/${unlearner}/${budget}`, seed, attack: 'gaussian', unlearner, budget, role, metric, value, details: null,
    examples: 100, seconds: 0.5, budgetExamples: budget === null ? null : 10, backend: 'cpu', manifestHash: 'abc', attackExamples: 0, attackSeconds: 0,
    setup: 's', diverged: null, warning: null, ...extra,
  };
}

const models: [string, number | null][] = [['none', null], ['retrain', null], ['retrain-replica', null], ['gd', 0.05], ['gd', 0.1], ['ga', 0.05], ['ga', 0.1]];
const records: ResultRecord[] = [1, 2, 3].flatMap((seed) =>
  models.flatMap(([u, b]) => {
    if (u === 'ga' && b === 0.1) return [rec(seed, u, b, 'accuracy', null, { diverged: 'non-finite weights after unlearning' })];
    const shift = u === 'none' ? -0.6 : u === 'gd' ? -0.5 : 0;
    const scores = Array.from({ length: 40 }, (_, i) => Number((shift + ((i % 9) - 4) / 4).toFixed(4)));
    return [
      rec(seed, u, b, 'accuracy', 0.9 + 0.01 * seed + (b ?? 0)),
      rec(seed, u, b, 'gus', Math.sqrt(40) * shift, { details: { mean: shift, std: 1, k: 40, scores: scores.join(' ') } }),
    ];
  }),
);

/** A small summary metric: 'different' when a model's mean is more than 0.05 from retraining's, else 'equivalent'. */
const gapMetric = defineSummaryMetric<Record<string, never>>({
  id: 'gap',
  description: 'test',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  summarize({ aggregates }) {
    const cells = aggregates
      .filter((a) => a.role !== 'retrained')
      .map((a) => {
        const ref = aggregates.find((r) => r.role === 'retrained' && r.metric === a.metric)!;
        const verdict = a.diverged.length > 0 ? 'diverged' : Math.abs(a.mean - ref.mean) > 0.05 ? 'different' : 'equivalent';
        return { attack: a.attack, unlearner: a.unlearner, budget: a.budget, metric: a.metric, text: verdict, fields: { verdict, test: 'gap > 0.05' } };
      });
    return { title: 'gap to retraining', rule: 'different if the means differ by more than 0.05 (alpha = n/a, no correction)', cells };
  },
});
const summaries: SummarySelection[] = [{ use: 'test/gap', label: 'gap', definition: gapMetric, options: {}, specs: new Map() }];

describe('report specs', () => {
  it('draws one line per method over the budgets, bands for retraining and its replica, a rule for the poisoned model', () => {
    const spec = metricChartSpec(
      'accuracy',
      [
        { method: 'gd', budget: 0.05, mean: 0.9, low: 0.88, high: 0.92 },
        { method: 'gd', budget: 0.1, mean: 0.91, low: null, high: null },
      ],
      [
        { model: 'none (poisoned)', kind: 'poisoned', mean: 0.95, low: 0.94, high: 0.96 },
        { model: 'retrain (reference)', kind: 'retrained', mean: 0.93, low: 0.92, high: 0.94 },
      ],
    ) as Spec;
    expect(marks(spec)).toEqual(['rect', 'rule', 'area', 'line']);
    const [bands, rules, areas, lines] = spec.layer!.map((l) => l.data!.values);
    expect(bands).toEqual([{ model: 'retrain (reference)', low: 0.92, high: 0.94 }]); // the poisoned model has no band
    expect(rules.map((r) => r.dash)).toEqual(['dashed', 'solid']);
    expect(areas).toHaveLength(1); // no band where the interval is undefined
    expect(lines.map((p) => p.budget)).toEqual([0.05, 0.1]);
  });

  it('bins scores as a density whose area is 1, on shared edges', () => {
    const bins = binScores('m', [-0.3, -0.1, 0.1, 0.2, 0.26, 3]);
    expect(bins.map((b) => b.x0)).toEqual([-0.5, -0.25, 0, 0.25, 3]);
    expect(bins.reduce((s, b) => s + b.density * (b.x1 - b.x0), 0)).toBeCloseTo(1, 12);
    expect(bins.find((b) => b.x0 === 0)!.density).toBeCloseTo(2 / (6 * 0.25), 12);
    // The null curve: N(0, 1) at 0 and 1 (closed form 1/√(2π), e^(−1/2)/√(2π)).
    expect(normalDensity(0)).toBeCloseTo(0.3989422804, 9);
    expect(normalDensity(1)).toBeCloseTo(0.2419707245, 9);
    const spec = scoreHistogramSpec('gus', ['m'], bins) as Spec;
    expect(marks(spec)).toEqual(['rect', 'line']);
  });

  it('colours the verdict matrix by verdict with a fixed scale', () => {
    const spec = verdictMatrixSpec([{ model: 'gd @ 5%', metric: 'gus', verdict: 'different', text: '≠', order: 1 }]) as Spec & { layer: { encoding: { color?: { scale?: { domain: string[] } } } }[] };
    expect(spec.layer[0].encoding.color!.scale!.domain).toEqual(['different', 'equivalent', 'inconclusive', 'insufficient', 'diverged']);
  });
});

describe('buildHtmlReport', () => {
  const html = buildHtmlReport({ records, summaries, runInfo: { experiment: 'fixture', manifestHash: 'abc123', startedAt: '2026-01-01T00:00:00.000Z' }, failures: [{ cell: 'seed=4/x', message: 'boom' }] });
  const charts = JSON.parse(/const charts=(.*);\n/.exec(html)![1]) as { id: string; spec: Spec }[];

  it('has a chart per metric, the verdict matrix and a histogram per score metric, with every method and budget', () => {
    expect(charts.map((c) => c.id)).toEqual(['c0-metric-0', 'c0-metric-1', 'c0-verdict', 'c0-scores-gus']);
    const accuracy = charts[0].spec.layer![3].data!.values;
    expect([...new Set(accuracy.map((p) => p.model))].sort()).toEqual(['ga', 'gd']);
    expect([...new Set(accuracy.map((p) => p.budget))].sort()).toEqual([0.05, 0.1]);
    // ga @ 10% diverged: no point, and the page says so.
    expect(accuracy.filter((p) => p.model === 'ga')).toHaveLength(1);
    expect(html).toContain('ga @ 10%: diverged on 3 of 3 seed(s) (non-finite weights after unlearning)');
    const verdicts = charts[2].spec.data!.values;
    expect(verdicts.find((c) => c.model === 'ga @ 10%' && c.metric === 'accuracy')!.verdict).toBe('diverged');
    expect(verdicts.find((c) => c.model === 'none (poisoned)' && c.metric === 'gus')!.verdict).toBe('different');
    expect(html).toContain('different if the means differ by more than 0.05');
    const panels = [...new Set(charts[3].spec.data!.values.map((b) => b.model))];
    expect(panels).toHaveLength(6); // every model but the diverged one
    // Independent check: the 120 pooled scores of the poisoned model (3 seeds × 40).
    let sum = 0;
    for (let i = 0; i < 40; i++) sum += -0.6 + ((i % 9) - 4) / 4;
    const mean = sum / 40;
    const [shownMean, shownZ] = /mean I (\S+), z (\S+)$/.exec(String(panels[0]))!.slice(1).map(Number);
    expect(String(panels[0])).toMatch(/^none \(poisoned\): /);
    expect(Math.abs(shownMean - mean)).toBeLessThanOrEqual(0.00051); // printed to 3 decimals
    expect(shownZ).toBeCloseTo(Math.sqrt(120) * mean, 1);
    expect(html).toContain('seed=4/x: boom');
  });

  it('loads nothing: no URL in a src, href or CSS url(), and inline data only', () => {
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/url\(\s*["']?(https?:)?\/\//i);
    expect(html).toContain("default-src 'none'");
    for (const { spec } of charts) expect(JSON.stringify(spec)).not.toMatch(/"url"\s*:/);
  });

  it('is the same for the same input', () => {
    expect(buildHtmlReport({ records, summaries, runInfo: { experiment: 'fixture', manifestHash: 'abc123', startedAt: '2026-01-01T00:00:00.000Z' }, failures: [{ cell: 'seed=4/x', message: 'boom' }] })).toBe(html);
  });
});
