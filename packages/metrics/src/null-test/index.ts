/**
 * `core/null-test`: for metrics whose per-seed value summarises per-poison scores that are exactly
 * N(0, 1) and independent when the model never saw the poisons (GUS and its fresh-noise control,
 * `ResultSpec.null = 'standard-normal-scores'`), pools the scores of all seeds (k per seed, K in all)
 * and tests their mean against that null:
 *
 *   mean I over the K scores,  z = √K · mean I  (N(0, 1) exactly under the null),
 *   p(remembered) = Φ(z) (one-sided, negative mean),  p(overshoot) = 1 − Φ(z).
 *
 * With equal k per seed, z equals Stouffer's combination √n · mean of the per-seed z-scores. Also
 * reported: the 95% interval of mean I (normal, with the pooled sample standard deviation), and the
 * residual fraction, the model's mean I over the poisoned model's with a 95% delta-method interval
 * (1: as remembered as before unlearning; 0: as a clean model). Uncorrected, descriptive p-values:
 * the verdicts with a multiplicity correction are `core/verdict`'s.
 */
import { defineSummaryMetric, type SeedAggregate, type SummaryCell } from '@unlearn-bench/core';
import { poolScores, ratioInterval, twoSidedP, type PooledScores } from '../stats.ts';
import { scoreSummaries, selectsMetric } from '../summary-input.ts';

/** Options of `core/null-test`. */
export interface NullTestOptions {
  /** Metrics to test (stored keys, `<name>:*`, or `*`); only those with standard-normal scores are. @default ['*'] */
  readonly metrics: readonly string[];
  /** Level of the descriptive `nullVerdict` (one-sided, uncorrected). @default 0.01 */
  readonly alpha: number;
}

/** `0.042`, `3.1e-7`, or `<1e-300` when the tail underflows. */
export function formatP(p: number): string {
  if (!Number.isFinite(p)) return 'n/a';
  if (p === 0) return '<1e-300';
  return p >= 0.001 ? p.toFixed(3) : p.toExponential(1);
}

/** Stouffer's combined z of `n` independent N(0, 1)-under-the-null values with mean `mean`, and its two-sided p. */
export function stouffer(mean: number, n: number): { z: number; p: number } {
  if (!(n > 0) || !Number.isFinite(mean)) return { z: Number.NaN, p: Number.NaN };
  const z = mean * Math.sqrt(n);
  return { z, p: twoSidedP(z) };
}

const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');

/** `core/null-test` as a summary metric. */
export const nullTestMetric = defineSummaryMetric<NullTestOptions>({
  id: 'null-test',
  description:
    'GUS-type scores of all seeds pooled and tested against their exact N(0, 1) null: mean score with its interval, z = √K·mean, one-sided p of "remembered" (negative) and "overshoot" (positive), and the residual fraction of the poisoned model\'s mean.',
  references: [{ title: 'Machine Unlearning Fails to Remove Data Poisoning Attacks (Pawelczyk et al., ICLR 2025)', url: 'https://arxiv.org/abs/2406.17216' }],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      metrics: {
        type: 'array',
        items: { type: 'string', minLength: 1 },
        uniqueItems: true,
        default: ['*'],
        description: "Metrics to test: stored keys (gus, gus:fresh-noise), '<name>:*', or '*'; only metrics whose results are standard-normal scores (GUS) are tested.",
      },
      alpha: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.01, description: 'Level of the descriptive nullVerdict (one-sided, not corrected for multiplicity; core/verdict gives the corrected verdicts).' },
    },
  },
  summarize({ aggregates }, options) {
    const cells: SummaryCell[] = [];
    const pooledOf = new Map<SeedAggregate, PooledScores>();
    for (const a of aggregates) {
      if (a.spec.null !== 'standard-normal-scores' || !selectsMetric(options.metrics, a.metric) || a.diverged.length > 0) continue;
      const parts = scoreSummaries(a);
      if (parts.length > 0) pooledOf.set(a, poolScores(parts));
    }
    for (const [a, pooled] of pooledOf) {
      const poisoned = [...pooledOf.entries()].find(([p]) => p.attack === a.attack && p.role === 'poisoned' && p.metric === a.metric)?.[1];
      const se = (s: PooledScores) => s.sd / Math.sqrt(s.k);
      const residual = poisoned && a.role !== 'poisoned' ? ratioInterval(pooled.mean, se(pooled), poisoned.mean, se(poisoned)) : undefined;
      const verdict = pooled.pRemembered < options.alpha ? 'remembered' : pooled.pOvershoot < options.alpha ? 'overshoot' : 'null';
      const mark = verdict === 'remembered' ? '≠' : verdict === 'overshoot' ? '≠ overshoot' : '≈';
      const residualText = residual && Number.isFinite(residual.ratio) ? `, residual ${fmt(residual.ratio)} [${fmt(residual.ci95[0])}, ${fmt(residual.ci95[1])}]` : '';
      cells.push({
        attack: a.attack,
        unlearner: a.unlearner,
        budget: a.budget,
        metric: a.metric,
        text: `${mark} I ${fmt(pooled.mean)} [${fmt(pooled.ci95[0])}, ${fmt(pooled.ci95[1])}], z ${pooled.z.toFixed(1)}, p ${formatP(Math.min(pooled.pRemembered, pooled.pOvershoot))}${residualText}`,
        fields: {
          pooledScores: pooled.k,
          meanScore: pooled.mean,
          meanScoreLow: pooled.ci95[0],
          meanScoreHigh: pooled.ci95[1],
          stoufferZ: pooled.z,
          pRemembered: pooled.pRemembered,
          pOvershoot: pooled.pOvershoot,
          nullVerdict: verdict,
          residualFraction: residual ? residual.ratio : null,
          residualLow: residual ? residual.ci95[0] : null,
          residualHigh: residual ? residual.ci95[1] : null,
        },
      });
    }
    return {
      title: 'poison scores pooled over seeds',
      rule: `mean per-poison score I over all poisons of all seeds [95% interval], z = √K · mean (N(0, 1) if the model never saw the poisons), one-sided p of the side the mean lies on; ≠ remembered if p(negative) < ${options.alpha}, ≠ overshoot if p(positive) < ${options.alpha}, ≈ otherwise (uncorrected; corrected verdicts above); residual = mean I / the poisoned model's mean I [95% delta-method interval]. Fresh-noise controls share one draw per seed across the models of that seed, so they are one independent check per seed, not per model.`,
      cells,
    };
  },
});
