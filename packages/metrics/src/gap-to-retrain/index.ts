/**
 * `core/gap-to-retrain`: how far each model is from exact unlearning (the retrained model), per
 * metric, in units of retraining's own seed-to-seed spread:
 *
 *   gap = (mean over seeds − retrained mean over seeds) / retrained sample std over seeds.
 *
 * A model is indistinguishable from retraining on a metric when |gap| ≤ threshold (default 2: within
 * two of retraining's standard deviations, what seed noise alone gives), and a method (unlearner ×
 * budget) is indistinguishable from retraining when it is on every compared metric that has a
 * gap. The gap is undefined (n/a) when the retrained model has fewer than 2 seeds or a standard
 * deviation of 0, or the model has no value. An experiment-level (summary) metric: it runs once
 * after the run on the other metrics' aggregates, and is applied with its defaults when a manifest
 * does not list it.
 */
import { defineSummaryMetric, type SeedAggregate, type SummaryCell, type SummaryRow } from '@unlearn-bench/core';

/** Options of `core/gap-to-retrain`. */
export interface GapToRetrainOptions {
  /** |gap| at or below which a model counts as indistinguishable from retraining. @default 2 */
  readonly threshold: number;
  /**
   * Metrics to compare: stored keys (`gus`, `gus:fresh-noise`), `<name>:*` for a metric's secondary
   * results, or `*` for all. @default ['*']
   */
  readonly metrics: readonly string[];
}

/** The verdict on one metric, or over all compared metrics. */
export type GapVerdict = 'indistinguishable' | 'different' | 'n/a';

/**
 * The gap of `model` to `retrained` on one metric: (mean − retrained mean) / retrained std; NaN
 * when the retrained model has fewer than 2 seeds or std 0, or either mean is undefined.
 */
export function gapToRetrain(model: Pick<SeedAggregate, 'mean'>, retrained: Pick<SeedAggregate, 'mean' | 'std' | 'n'> | undefined): number {
  if (!retrained || retrained.n < 2 || !(retrained.std > 0)) return Number.NaN;
  return (model.mean - retrained.mean) / retrained.std;
}

/** `indistinguishable` if |gap| ≤ threshold, `different` if above, `n/a` if the gap is undefined. */
export function gapVerdict(gap: number, threshold: number): GapVerdict {
  if (!Number.isFinite(gap)) return 'n/a';
  return Math.abs(gap) <= threshold ? 'indistinguishable' : 'different';
}

/** Whether `metric` (a stored key) is selected by the `metrics` option. */
export function selectsMetric(patterns: readonly string[], metric: string): boolean {
  return patterns.some((p) => p === '*' || p === metric || (p.endsWith(':*') && metric.startsWith(p.slice(0, -1))));
}

const SYMBOL: Record<GapVerdict, string> = { indistinguishable: '≈', different: '≠', 'n/a': 'n/a' };

function gapText(gap: number, verdict: GapVerdict): string {
  if (verdict === 'n/a') return 'n/a';
  return `${SYMBOL[verdict]} ${(Math.abs(gap) < 0.05 ? 0 : gap).toFixed(1)}`;
}

/** `core/gap-to-retrain` as a summary metric. */
export const gapToRetrainMetric = defineSummaryMetric<GapToRetrainOptions>({
  id: 'gap-to-retrain',
  scope: 'summary',
  description:
    "Each model's distance from the retrained model on every other metric, in retrained standard deviations over seeds, with a per-metric and per-method verdict (indistinguishable from retraining iff |gap| ≤ threshold).",
  references: [{ title: 'Machine Unlearning Fails to Remove Data Poisoning Attacks (Pawelczyk et al., ICLR 2025)', url: 'https://arxiv.org/abs/2406.17216' }],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      threshold: { type: 'number', exclusiveMinimum: 0, default: 2, description: '|gap| at or below which a model counts as indistinguishable from retraining.' },
      metrics: {
        type: 'array',
        items: { type: 'string', minLength: 1 },
        uniqueItems: true,
        default: ['*'],
        description: "Metrics to compare: stored keys (gus, gus:fresh-noise), '<name>:*' for a metric's secondary results, or '*' for all; [] prints no gap table.",
      },
    },
  },
  summarize({ aggregates }, options) {
    const compared = aggregates.filter((a) => selectsMetric(options.metrics, a.metric));
    const present = new Set(aggregates.map((a) => a.metric));
    const notes = options.metrics
      .filter((p) => p !== '*' && ![...present].some((m) => selectsMetric([p], m)))
      .map((p) => `options.metrics names '${p}', which matches no metric here (present: ${[...present].join(', ')}).`);
    const reference = (a: SeedAggregate) => aggregates.find((r) => r.attack === a.attack && r.role === 'retrained' && r.metric === a.metric);
    // Print nothing for an attack where no compared metric has a gap (e.g. a single seed).
    const printed = new Set(compared.filter((a) => Number.isFinite(gapToRetrain(a, reference(a)))).map((a) => a.attack));
    const cells: SummaryCell[] = [];
    const perModel = new Map<string, { a: SeedAggregate; verdicts: GapVerdict[] }>();
    for (const a of compared) {
      const gap = gapToRetrain(a, reference(a));
      const verdict = gapVerdict(gap, options.threshold);
      const shown = printed.has(a.attack) && a.role !== 'retrained';
      cells.push({ attack: a.attack, unlearner: a.unlearner, budget: a.budget, metric: a.metric, ...(shown ? { text: gapText(gap, verdict) } : {}), fields: { gapToRetrain: gap, verdict } });
      const key = JSON.stringify([a.attack, a.unlearner, a.budget]);
      const entry = perModel.get(key) ?? { a, verdicts: [] };
      entry.verdicts.push(verdict);
      perModel.set(key, entry);
    }
    const rows: SummaryRow[] = [...perModel.values()].map(({ a, verdicts }) => {
      const methodVerdict: GapVerdict = verdicts.includes('different') ? 'different' : verdicts.includes('indistinguishable') ? 'indistinguishable' : 'n/a';
      const shown = printed.has(a.attack) && a.role !== 'retrained';
      const text = methodVerdict === 'n/a' ? 'n/a' : `${SYMBOL[methodVerdict]} retrain`;
      return { attack: a.attack, unlearner: a.unlearner, budget: a.budget, ...(shown ? { text } : {}), fields: { methodVerdict } };
    });
    const which = options.metrics.includes('*') ? 'every metric' : `every compared metric (${options.metrics.join(', ')})`;
    const t = options.threshold;
    return {
      title: 'gap to retrain',
      rule: `(mean − retrain mean) / retrain std over seeds; ≈ if |gap| ≤ ${t} (indistinguishable from retraining), ≠ otherwise, n/a if retrain has < 2 seeds or std 0; verdict: ≈ retrain iff ≈ on ${which} with a gap`,
      cells,
      rows,
      rowHeader: 'verdict',
      notes,
    };
  },
});
