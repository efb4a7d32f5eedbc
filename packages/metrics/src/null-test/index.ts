/**
 * `core/null-test`: for a statistic that is exactly N(0, 1) on each seed when the model never saw
 * the poisons (GUS and its fresh-noise control), combines the seeds by Stouffer's method,
 *
 *   z = Σᵢ zᵢ / √n = √n · mean,   p = 2 · (1 − Φ(|z|)),
 *
 * which is again N(0, 1) under the null because the seeds are independent. A model is "≠ null"
 * (the poison is still detectable) when p < alpha. This turns the per-seed z-scores of the tables
 * into one test per model: the retrained model and every fresh-noise control should read ≈ null.
 * An experiment-level (summary) metric, applied with its defaults when a manifest does not list it.
 */
import { defineSummaryMetric, type SummaryCell } from '@unlearn-bench/core';
import { selectsMetric } from '../gap-to-retrain/index.ts';
import { twoSidedP } from '../stats.ts';

/** Options of `core/null-test`. */
export interface NullTestOptions {
  /** Stored metric keys whose per-seed values are N(0, 1) under the null. @default ['gus', 'gus:fresh-noise'] */
  readonly metrics: readonly string[];
  /** Significance level of the verdict. @default 0.01 */
  readonly alpha: number;
}

/** Stouffer's combined z of `n` independent N(0, 1)-under-the-null values with mean `mean`, and its two-sided p. */
export function stouffer(mean: number, n: number): { z: number; p: number } {
  if (!(n > 0) || !Number.isFinite(mean)) return { z: Number.NaN, p: Number.NaN };
  const z = mean * Math.sqrt(n);
  return { z, p: twoSidedP(z) };
}

/** `0.042`, `3.1e-7`, or `<1e-300` when the tail underflows. */
export function formatP(p: number): string {
  if (!Number.isFinite(p)) return 'n/a';
  if (p === 0) return '<1e-300';
  return p >= 0.001 ? p.toFixed(3) : p.toExponential(1);
}

/** `core/null-test` as a summary metric. */
export const nullTestMetric = defineSummaryMetric<NullTestOptions>({
  id: 'null-test',
  description:
    "Stouffer's test over seeds for statistics that are N(0, 1) per seed when the model never saw the poisons (GUS): z = √n · mean, two-sided p, ≠ null if p < alpha.",
  references: [{ title: 'Machine Unlearning Fails to Remove Data Poisoning Attacks (Pawelczyk et al., ICLR 2025)', url: 'https://arxiv.org/abs/2406.17216' }],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      metrics: {
        type: 'array',
        items: { type: 'string', minLength: 1 },
        uniqueItems: true,
        default: ['gus', 'gus:fresh-noise'],
        description: "Stored metric keys whose per-seed values are N(0, 1) under the null ('<name>:*' for a metric's secondary results, as in gap-to-retrain); metrics a run does not have are skipped.",
      },
      alpha: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.01, description: 'Significance level of the verdict (≠ null if p < alpha).' },
    },
  },
  summarize({ aggregates }, options) {
    const cells: SummaryCell[] = [];
    for (const a of aggregates) {
      if (!selectsMetric(options.metrics, a.metric)) continue;
      const { z, p } = stouffer(a.mean, a.n);
      const different = p < options.alpha;
      // A metric without values (GUS without Gaussian poisons) is exported as n/a but not printed.
      const text = Number.isFinite(z) ? { text: `${different ? '≠' : '≈'} ${z.toFixed(1)} (p ${formatP(p)})` } : {};
      cells.push({ attack: a.attack, unlearner: a.unlearner, budget: a.budget, metric: a.metric, ...text, fields: { stoufferZ: Number.isFinite(z) ? z : null, nullP: Number.isFinite(p) ? p : null, nullVerdict: Number.isFinite(p) ? (different ? 'not null' : 'null') : 'n/a' } });
    }
    return {
      title: 'null test over seeds',
      rule: `Stouffer z = √n · mean over the n seeds (N(0, 1) if the model never saw the poisons) and two-sided p; ≠ null (poison detectable) if p < ${options.alpha}, ≈ otherwise`,
      cells,
    };
  },
});
