import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineMetric, defineSummaryMetric } from '../plugin/define.ts';
import { Registry } from '../plugin/registry.ts';
import { API_VERSION, type SummaryMetricDefinition } from '../plugin/types.ts';
import { aggregate, formatSummary, selectSummaryMetrics, writeSummaryJsonl, type SummarySelection } from './summary.ts';
import type { ResultRecord } from './store.ts';

function record(seed: number, unlearner: string, metric: string, value: number | null, budget: number | null = null): ResultRecord {
  return {
    experiment: 'x', cell: `${seed}/${unlearner}/${budget}`, seed, attack: 'gaussian', unlearner, budget, role: unlearner === 'none' ? 'poisoned' : unlearner === 'retrain' ? 'retrained' : 'unlearned',
    metric, value, details: null, examples: 0, seconds: 0, budgetExamples: null, backend: 'cpu', manifestHash: 'h', attackExamples: 0, attackSeconds: 0, setup: 's', diverged: null,
  } as ResultRecord;
}

const records = [
  ...[1, 2, 3].map((seed, i) => record(seed, 'retrain', 'gus', [0.5, -1, 1.1][i])),
  ...[1, 2, 3].map((seed, i) => record(seed, 'none', 'gus', [-10, -12, -11][i])),
  ...[1, 2, 3].map((seed, i) => record(seed, 'gd', 'gus', [0, 1, -0.4][i], 0.05)),
];

/**
 * A toy summary metric: "distance from the poisoned mean" per metric, printed for unlearned models
 * only (the others are exported but not printed), and a per-model count as the row.
 */
const fromPoisoned = defineSummaryMetric<{ scale: number }>({
  id: 'from-poisoned',
  scope: 'summary',
  description: 'Mean minus the poisoned mean, times scale.',
  optionsSchema: { type: 'object', additionalProperties: false, properties: { scale: { type: 'number', default: 1, description: 'Multiplier.' } } },
  summarize({ aggregates }, options) {
    const cells = aggregates.map((a) => {
      const poisoned = aggregates.find((p) => p.attack === a.attack && p.role === 'poisoned' && p.metric === a.metric)!;
      const value = (a.mean - poisoned.mean) * options.scale;
      return { attack: a.attack, unlearner: a.unlearner, budget: a.budget, metric: a.metric, ...(a.role === 'unlearned' ? { text: value.toFixed(2) } : {}), fields: { fromPoisoned: value, mean: -1 } };
    });
    const rows = aggregates.filter((a) => a.role === 'unlearned').map((a) => ({ attack: a.attack, unlearner: a.unlearner, budget: a.budget, text: 'row', fields: { rowField: 'r' } }));
    return { title: 'from poisoned', rule: 'mean − poisoned mean', cells, rows, rowHeader: 'mark', notes: ['a note'] };
  },
});
const selection = (definition: SummaryMetricDefinition, options: object = { scale: 1 }): SummarySelection => ({ use: `t/${definition.id}`, label: definition.id, definition, options: options as never, specs: new Map() });

describe('aggregate', () => {
  it('computes mean, sample std, a t-based 95% interval and n, with the role', () => {
    const none = aggregate(records).find((a) => a.unlearner === 'none')!;
    expect(none.mean).toBe(-11);
    expect(none.std).toBe(1);
    expect(none.ci95[0]).toBeCloseTo(-11 - 4.302652729911275 / Math.sqrt(3), 8); // scipy.stats.t.ppf(0.975, 2)
    expect(none.ci95[1]).toBeCloseTo(-11 + 4.302652729911275 / Math.sqrt(3), 8);
    expect(none).toMatchObject({ n: 3, seeds: [1, 2, 3], role: 'poisoned', budget: null });
    expect(aggregate(records).find((a) => a.unlearner === 'gd')).toMatchObject({ role: 'unlearned', budget: 0.05 });
  });

  it('leaves std and interval undefined for a single seed, and ignores null values in n', () => {
    const [single] = aggregate([record(1, 'retrain', 'gus', 0.3), record(2, 'retrain', 'gus', null)]);
    expect(single.std).toBeNaN();
    expect(single.ci95[0]).toBeNaN();
    expect(single).toMatchObject({ mean: 0.3, n: 1, seeds: [1, 2] });
  });
});

describe('aggregate: what the verdicts rely on', () => {
  it('uses the t quantile for any number of seeds (not 1.96 beyond 30)', () => {
    const many = Array.from({ length: 40 }, (_, i) => record(i + 1, 'retrain', 'gus', i % 2));
    const [a] = aggregate(many);
    // scipy.stats.t.ppf(0.975, 39) = 2.0226909117347285
    expect(a.ci95[1] - a.mean).toBeCloseTo((2.0226909117347285 * a.std) / Math.sqrt(40), 8);
  });

  it('keeps per-seed values aligned with seeds, and never pools different setups', () => {
    const two = [record(1, 'retrain', 'acc', 0.9), record(2, 'retrain', 'acc', 0.8), { ...record(1, 'retrain', 'acc', 0.1), setup: 'other', experiment: 'y' } as ResultRecord];
    const [first, second] = aggregate(two);
    expect(first).toMatchObject({ seeds: [1, 2], values: [0.9, 0.8], n: 2, setup: 's', experiment: 'x' });
    expect(second).toMatchObject({ seeds: [1], values: [0.1], n: 1, setup: 'other' });
    const text = formatSummary(two);
    expect(text).toContain('attack: gaussian · manifest x (setup s)');
    expect(text).toContain('attack: gaussian · manifest y (setup other)');
  });

  it('keeps a proportion interval inside [0, 1]: Wilson for per-seed 0/1 outcomes, a clipped t-interval otherwise', () => {
    const specs = new Map([['hit', { range: [0, 1] as const }]]);
    const binary = [1, 0, 0, 0, 0, 0, 0, 0].map((v, i) => record(i + 1, 'gd', 'hit', v, 0.1));
    const [a] = aggregate(binary, specs);
    // scipy.stats.binomtest(1, 8).proportion_ci(method='wilson') → [0.02241749, 0.47088818]
    expect(a.ci95[0]).toBeCloseTo(0.02241749145005667, 10);
    expect(a.ci95[1]).toBeCloseTo(0.4708881822128535, 10);
    const [b] = aggregate([0.01, 0.02, 0.0].map((v, i) => record(i + 1, 'gd', 'hit', v, 0.1)), specs);
    expect(b.ci95[0]).toBe(0);
    expect(b.ci95[1]).toBeGreaterThan(0.02);
  });

  it('treats a standard deviation at rounding-noise level as 0', () => {
    const [a] = aggregate([0.0916, 0.0916, 0.0916].map((v, i) => record(i + 1, 'retrain', 'acc', v * (1 + i * 1e-16))));
    expect(a.std).toBe(0);
  });

  it('shows a model that diverged on any seed as diverged, never as a number, and exports no mean', () => {
    const rows = [record(1, 'ga', 'acc', 0.09, 0.1), { ...record(2, 'ga', 'acc', null, 0.1), diverged: 'non-finite weights after unlearning' } as ResultRecord, record(1, 'ga', 'acc:drop', 0.8, 0.1)];
    const agg = aggregate(rows);
    expect(agg.map((a) => [a.metric, a.diverged, a.n])).toEqual([
      ['acc', [2], 0],
      ['acc:drop', [2], 0],
    ]);
    expect(formatSummary(rows)).toContain('diverged on 1 of 2 seeds');
    const dir = mkdtempSync(join(tmpdir(), 'ub-summary-'));
    try {
      const lines = readFileSync(writeSummaryJsonl(dir, rows), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines[0]).toMatchObject({ mean: null, std: null, ci95: [null, null], diverged: [2], divergedReason: 'non-finite weights after unlearning' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('formatSummary', () => {
  it('prints mean ± std [95% interval] with n in the title', () => {
    expect(formatSummary(records)).toMatchInlineSnapshot(`
      "attack: gaussian   (mean ± std [95% interval of the mean] over 3 seeds)
      model                budget  gus
      -------------------  ------  ---------------------------------
      none (poisoned)      -       -11.00 ± 1.00 [-13.48, -8.52]
      retrain (reference)  -       0.2000 ± 1.0817 [-2.4870, 2.8870]
      gd                   5%      0.2000 ± 0.7211 [-1.5913, 1.9913]"
    `);
  });

  it('marks a model with fewer seeds than the table, and prints one seed without ± or interval', () => {
    const partial = [...records.filter((r) => !(r.unlearner === 'gd' && r.seed === 3))];
    expect(formatSummary(partial).split('\n').at(-1)).toBe('gd                   5%      0.5000 ± 0.7071 [-5.8531, 6.8531] (n=2)');
    expect(formatSummary([record(1, 'none', 'gus', -3)])).toBe(
      ['attack: gaussian   (mean ± std over 1 seed)', 'model            budget  gus', '---------------  ------  ------', 'none (poisoned)  -       -3.000'].join('\n'),
    );
  });

  it("adds each summary metric's table with its rule, printed cells, row column and notes", () => {
    expect(formatSummary(records, { summaries: [selection(fromPoisoned, { scale: 2 })], markdown: true })).toMatchInlineSnapshot(`
      "**attack: gaussian   (mean ± std [95% interval of the mean] over 3 seeds)**

      | model | budget | gus |
      |---|---|---|
      | none (poisoned) | - | -11.00 ± 1.00 [-13.48, -8.52] |
      | retrain (reference) | - | 0.2000 ± 1.0817 [-2.4870, 2.8870] |
      | gd | 5% | 0.2000 ± 0.7211 [-1.5913, 1.9913] |

      **from poisoned, gaussian: mean − poisoned mean**

      | model | budget | gus | mark |
      |---|---|---|---|
      | gd | 5% | 22.40 | row |

      note (from-poisoned): a note"
    `);
  });

  it('splits text tables into chunks of 3 metrics and puts the row column in the last chunk only', () => {
    const many = ['a', 'b', 'c', 'd'].flatMap((metric) => [1, 2].flatMap((seed) => ['none', 'gd'].map((u) => record(seed, u, metric, seed + (u === 'gd' ? 1 : 0), u === 'gd' ? 0.1 : null))));
    const blocks = formatSummary(many, { summaries: [selection(fromPoisoned)] }).split('\n\n');
    expect(blocks.map((b) => b.split('\n').find((l) => /^(model|note)/.test(l)))).toEqual([
      'model            budget  a                              b                              c',
      'model  budget  a     b     c',
      'model            budget  d',
      'model  budget  d     mark',
      'note (from-poisoned): a note',
    ]);
  });

  it('leaves out a summary table with no printed cell', () => {
    const silent = defineSummaryMetric<Record<string, never>>({ ...fromPoisoned, id: 'silent', summarize: () => ({ title: 'silent', rule: 'r', cells: [{ attack: 'gaussian', unlearner: 'gd', budget: 0.05, metric: 'gus', fields: { x: 1 } }] }) });
    expect(formatSummary(records, { summaries: [selection(silent, {})] })).toBe(formatSummary(records));
  });

  it('leaves out metric columns without a printed cell', () => {
    const two = [...records, ...records.map((r) => ({ ...r, metric: 'acc' }))];
    const onlyAcc = defineSummaryMetric<Record<string, never>>({
      ...fromPoisoned,
      id: 'only-acc',
      summarize: ({ aggregates }) => ({
        title: 'only acc',
        rule: 'r',
        cells: aggregates.filter((a) => a.role === 'unlearned').map((a) => ({ ...a, ...(a.metric === 'acc' ? { text: 'x' } : {}) })),
      }),
    });
    expect(formatSummary(two, { summaries: [selection(onlyAcc, {})] }).split('\n\n')[1]).toBe(['only acc, gaussian: r', 'model  budget  acc', '-----  ------  ---', 'gd     5%      x'].join('\n'));
    // With a metrics filter, summary metrics still see every metric, so a verdict's family of tests
    // (and a method's verdict over all metrics) is the same as in summary.jsonl; only the display is filtered.
    const seen: string[][] = [];
    const spy = defineSummaryMetric<Record<string, never>>({ ...onlyAcc, summarize: ({ aggregates }) => (seen.push([...new Set(aggregates.map((a) => a.metric))]), { title: 't', rule: 'r', cells: [] }) });
    formatSummary(two, { metrics: ['acc'], summaries: [selection(spy, {})] });
    expect(seen).toEqual([[...new Set(two.map((r) => r.metric))]]);
  });

  it('names the summary metric when it throws', () => {
    const broken = defineSummaryMetric<Record<string, never>>({ ...fromPoisoned, id: 'broken', summarize: () => { throw new Error('boom'); } });
    expect(() => formatSummary(records, { summaries: [selection(broken, {})] })).toThrow('t/broken failed in summarize: boom');
  });
});

describe('writeSummaryJsonl', () => {
  it('writes one line per aggregate with summary fields; a clashing field gets the summary label', () => {
    const dir = mkdtempSync(join(tmpdir(), 'summary-'));
    try {
      const lines = readFileSync(writeSummaryJsonl(dir, records, [selection(fromPoisoned)]), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines).toHaveLength(3);
      const gd = lines.find((l) => l.unlearner === 'gd');
      expect(Object.keys(gd)).toEqual(['attack', 'unlearner', 'budget', 'role', 'metric', 'mean', 'std', 'ci95', 'n', 'seeds', 'values', 'diverged', 'divergedReason', 'setup', 'experiment', 'fromPoisoned', 'from-poisoned.mean', 'rowField']);
      expect(gd.fromPoisoned).toBeCloseTo(11.2, 12);
      expect(gd.mean).toBeCloseTo(0.2, 12);
      expect(gd['from-poisoned.mean']).toBe(-1);
      expect(lines.find((l) => l.unlearner === 'none')).not.toHaveProperty('rowField');
      const single = readFileSync(writeSummaryJsonl(dir, [record(1, 'none', 'gus', 2)]), 'utf8');
      expect(JSON.parse(single)).toMatchObject({ mean: 2, std: null, ci95: [null, null], n: 1 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('summary metrics in the registry and manifests', () => {
  const meta = (name: string, namespace = 'core') => ({ name, version: '1', namespace, apiVersion: API_VERSION });
  const gap = defineSummaryMetric<{ scale: number }>({ ...fromPoisoned, id: 'verdict' });
  const perModel = defineMetric({ id: 'acc', description: 'd', optionsSchema: { type: 'object', additionalProperties: false, properties: {} }, create: () => ({ compute: () => ({ value: 1 }) }) });

  it('registers summary metrics as metrics, and rejects them in the wrong field or without summarize', () => {
    const registry = new Registry();
    registry.register({ meta: meta('p'), metrics: [perModel], summaryMetrics: [gap] });
    expect(registry.list('metric').map((e) => e.key)).toEqual(['core/acc', 'core/verdict']);
    expect(() => new Registry().register({ meta: meta('q'), metrics: [gap as never] })).toThrow("a summary metric (scope 'summary') belongs in the plugin's summaryMetrics, not metrics.");
    expect(() => new Registry().register({ meta: meta('q'), summaryMetrics: [{ ...gap, summarize: undefined } as never] })).toThrow('summarize(input, options) is required.');
    expect(() => new Registry().register({ meta: meta('q'), summaryMetrics: [perModel as never] })).toThrow("scope must be 'summary'");
  });

  it('selects listed summary metrics with validated options, then the defaults not listed', () => {
    const registry = new Registry();
    registry.register({ meta: meta('p'), metrics: [perModel], summaryMetrics: [gap] });
    registry.register({ meta: meta('lab', 'lab'), summaryMetrics: [fromPoisoned] });
    expect(selectSummaryMetrics([{ use: 'core/acc' }], registry).map((s) => [s.use, s.label, s.options])).toEqual([['core/verdict', 'verdict', { scale: 1 }]]);
    expect(selectSummaryMetrics([{ use: 'lab/from-poisoned', options: { scale: 3 } }, { use: 'core/verdict', label: 'g', options: { scale: 2 } }], registry).map((s) => [s.use, s.label, s.options])).toEqual([
      ['lab/from-poisoned', 'lab/from-poisoned', { scale: 3 }],
      ['core/verdict', 'g', { scale: 2 }],
    ]);
    expect(() => selectSummaryMetrics([{ use: 'core/verdict', options: { scale: 'x' } }], registry, 'run.json')).toThrow(/Invalid manifest run\.json:\n {2}- metrics\[0\]\.options\.scale/);
    expect(selectSummaryMetrics([], new Registry())).toEqual([]); // no verdict registered: nothing
  });
});
