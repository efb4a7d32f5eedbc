/**
 * `core/verdict`: is each model distinguishable from exact unlearning (the retrained model), and is
 * it shown to be equivalent to it? One verdict per (model, metric) and one per model, from paired
 * per-seed differences:
 *
 *   d_s = metric(model, seed s) − metric(retrained model, seed s)
 *
 * The same seed shares the initial weights, the data split and the poisons, so pairing removes
 * most of the seed-to-seed spread. Per metric with an equivalence margin δ:
 *   - `equivalent`: the (1 − 2α) t-interval of mean d lies inside (−δ, δ) (Schuirmann's TOST at α),
 *     checked first: a difference shown to be inside the margin is equivalent even if non-zero;
 *   - `different`: otherwise, if the two-sided paired t-test of mean d = 0 rejects at α after the
 *     multiplicity correction (Holm by default) over every test of the attack's setup (one
 *     family per attack and experiment setup);
 *   - `inconclusive`: neither; `insufficient`: fewer than 2 paired seeds; `diverged`: the model (or
 *     the retrained model) diverged on some seed, so nothing is averaged.
 * Metrics whose per-seed value summarises per-poison scores that are exactly N(0, 1) for a model
 * that never saw the poisons (GUS: `ResultSpec.null = 'standard-normal-scores'`) pool the k·n scores
 * of all seeds and compare their mean with that exact null instead: `different` when the mean is
 * significantly negative (the poison remembered, one-sided) or significantly positive (overshoot,
 * reported as such), `equivalent` when the 90% interval of the mean score lies inside ±δ.
 * A method is `equivalent` only if equivalent on every compared metric, `different` if different on
 * any, `diverged` if it diverged, else `inconclusive`.
 */
import { defineSummaryMetric, type SeedAggregate, type SummaryCell, type SummaryRow } from '@unlearn-bench/core';
import { benjaminiHochbergAdjust, holmAdjust, normalQuantile, pairedBinaryTest, pairedTTest, poolScores, type PairedTest, type PooledScores } from '../stats.ts';
import { scoreSummaries, selectsMetric } from '../summary-input.ts';

/** Options of `core/verdict`. */
export interface VerdictOptions {
  /** Significance level of the difference tests (after correction) and of TOST. @default 0.05 */
  readonly alpha: number;
  /** Multiplicity correction over all tests of a run. @default 'holm' */
  readonly correction: 'holm' | 'benjamini-hochberg' | 'none';
  /** Equivalence margins by stored metric key, overriding the metrics' declared ones. @default {} */
  readonly margins: Readonly<Record<string, number>>;
  /** Metrics to judge (stored keys, `<name>:*`, or `*`); only those with a margin get a verdict. @default ['*'] */
  readonly metrics: readonly string[];
}

/** The verdict on one metric, or over all compared metrics of a model. */
export type Verdict = 'different' | 'equivalent' | 'inconclusive' | 'insufficient' | 'diverged';

const SYMBOL: Record<Verdict, string> = { different: '≠', equivalent: '≈', inconclusive: '?', insufficient: 'insufficient', diverged: 'diverged' };

interface Comparison {
  readonly a: SeedAggregate;
  readonly margin: number;
  readonly paired?: PairedTest;
  /** The paired test is the exact binary one (one 0/1 outcome per seed). */
  readonly binary?: boolean;
  readonly pooled?: PooledScores;
  /** Indices into the family's p-values: [two-sided] for paired, [remembered, overshoot] for pooled. */
  readonly tests: number[];
  verdict: Verdict;
  direction?: 'remembered' | 'overshoot';
  reason?: string;
}

/** Per-seed pairs [model, reference] of `a` and `reference` (seeds where both have a value). */
export function pairedValues(a: Pick<SeedAggregate, 'seeds' | 'values'>, reference: Pick<SeedAggregate, 'seeds' | 'values'>): [number, number][] {
  const out: [number, number][] = [];
  a.seeds.forEach((seed, i) => {
    const j = reference.seeds.indexOf(seed);
    const v = a.values[i];
    const r = j >= 0 ? reference.values[j] : null;
    if (v !== null && r !== null && r !== undefined) out.push([v, r]);
  });
  return out;
}


function decimals(margin: number): number {
  return Math.max(2, Math.min(5, 1 - Math.floor(Math.log10(margin))));
}

function signed(value: number, digits: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const text = value.toFixed(digits);
  return value >= 0 && !/^-?0\.?0*$/.test(text) ? `+${text}` : text.replace(/^-(0\.?0*)$/, '$1');
}

function cellText(c: Comparison): string {
  if (c.verdict === 'diverged') return 'diverged';
  if (c.verdict === 'insufficient') return 'insufficient';
  const digits = decimals(c.margin);
  const mean = c.paired?.mean ?? c.pooled!.mean;
  const [low, high] = c.paired?.ci95 ?? c.pooled!.ci95;
  const interval = Number.isFinite(low) ? ` [${signed(low, digits)}, ${signed(high, digits)}]` : '';
  return `${SYMBOL[c.verdict]} ${signed(mean, digits)}${interval}${c.direction === 'overshoot' ? ' overshoot' : ''}`;
}

/** `core/verdict` as a summary metric. */
export const verdictMetric = defineSummaryMetric<VerdictOptions>({
  id: 'verdict',
  scope: 'summary',
  description:
    'Each model against the retrained model: paired per-seed differences tested for a difference (t-test, Holm-corrected) and for equivalence within a margin (TOST); GUS-type scores pooled over seeds against their exact N(0, 1) null. Verdicts: different, equivalent, inconclusive, insufficient, diverged.',
  references: [
    { title: 'Schuirmann, A comparison of the two one-sided tests procedure … (J. Pharmacokinet. Biopharm. 1987)', url: 'https://doi.org/10.1007/BF01068419' },
    { title: 'Holm, A simple sequentially rejective multiple test procedure (Scand. J. Statist. 1979)', url: 'https://www.jstor.org/stable/4615733' },
  ],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      alpha: { type: 'number', exclusiveMinimum: 0, maximum: 0.25, default: 0.05, description: 'Significance level of the difference tests (after correction) and of the equivalence tests (TOST: the 1 − 2α interval inside ±margin).' },
      correction: { enum: ['holm', 'benjamini-hochberg', 'none'], default: 'holm', description: "Multiplicity correction of the difference tests over all tests of a run: 'holm' (family-wise error rate), 'benjamini-hochberg' (false discovery rate), or 'none'." },
      margins: {
        type: 'object',
        additionalProperties: { type: 'number', exclusiveMinimum: 0 },
        default: {},
        description: "Equivalence margins by stored metric key (e.g. { \"accuracy\": 0.02 }), overriding the margins the metrics declare; in score units for GUS-type metrics.",
      },
      metrics: {
        type: 'array',
        items: { type: 'string', minLength: 1 },
        uniqueItems: true,
        default: ['*'],
        description: "Metrics to judge: stored keys (gus, accuracy), '<name>:*' for a metric's secondary results, or '*'; only metrics with a margin get a verdict.",
      },
    },
  },
  summarize({ aggregates }, options) {
    const reference = (a: SeedAggregate) => aggregates.find((r) => r.attack === a.attack && r.role === 'retrained' && r.metric === a.metric);
    const comparisons: Comparison[] = [];
    const family: number[] = [];
    const present = new Set(aggregates.map((a) => a.metric));
    const notes = options.metrics
      .filter((p) => p !== '*' && ![...present].some((m) => selectsMetric([p], m)))
      .map((p) => `options.metrics names '${p}', which matches no metric here (present: ${[...present].join(', ')}).`);
    for (const a of aggregates) {
      if (!selectsMetric(options.metrics, a.metric)) continue;
      const margin = options.margins[a.metric] ?? a.spec.margin;
      if (margin === undefined) continue;
      if (a.spec.null === 'standard-normal-scores') {
        const parts = scoreSummaries(a);
        if (a.diverged.length === 0 && parts.length === 0) continue; // e.g. GUS on an attack without Gaussian poisons
        if (a.diverged.length > 0) {
          comparisons.push({ a, margin, tests: [], verdict: 'diverged', reason: a.divergedReason ?? undefined });
          continue;
        }
        const pooled = poolScores(parts);
        const tests = [family.push(pooled.pRemembered) - 1, family.push(pooled.pOvershoot) - 1];
        comparisons.push({ a, margin, pooled, tests, verdict: 'inconclusive' });
        continue;
      }
      if (a.role === 'retrained') continue;
      const ref = reference(a);
      if (!ref) continue;
      if (a.diverged.length > 0 || ref.diverged.length > 0) {
        const reason = a.diverged.length > 0 ? a.divergedReason : `the retrained model diverged (${ref.divergedReason})`;
        comparisons.push({ a, margin, tests: [], verdict: 'diverged', reason: reason ?? undefined });
        continue;
      }
      const pairs = pairedValues(a, ref);
      // One 0/1 outcome per seed on both sides (a target flipped or not): exact binary tests.
      const binary = pairs.length > 0 && pairs.every(([m, r]) => (m === 0 || m === 1) && (r === 0 || r === 1)) && a.spec.range?.[0] === 0 && a.spec.range?.[1] === 1;
      const paired = binary ? pairedBinaryTest(pairs.map(([m]) => m), pairs.map(([, r]) => r), margin) : pairedTTest(pairs.map(([m, r]) => m - r), margin);
      if (paired.n < 2) {
        comparisons.push({ a, margin, paired, tests: [], verdict: 'insufficient' });
        continue;
      }
      comparisons.push({ a, margin, paired, binary, tests: [family.push(paired.p) - 1], verdict: 'inconclusive' });
    }
    const adjusted = options.correction === 'holm' ? holmAdjust(family) : options.correction === 'benjamini-hochberg' ? benjaminiHochbergAdjust(family) : family;
    for (const c of comparisons) {
      if (c.tests.length === 0) continue;
      // Equivalence is the stronger claim and is checked first: a difference shown to lie inside
      // the margin is equivalent even when it is also detectably non-zero (pAdjusted says so).
      // A variant a selection rule chose among G gets its equivalence tested at α / G (Bonferroni
      // over the grid): the choice could otherwise make a lucky variant look equivalent.
      const alphaEquivalence = options.alpha / (c.a.selectedFrom ?? 1);
      if (c.paired) {
        if (c.paired.tostP < alphaEquivalence) c.verdict = 'equivalent';
        else if (adjusted[c.tests[0]] < options.alpha) c.verdict = 'different';
      } else if (c.pooled) {
        const [remembered, overshoot] = c.tests.map((i) => adjusted[i]);
        const z = normalQuantile(1 - alphaEquivalence);
        const se = c.pooled.sd / Math.sqrt(c.pooled.k);
        if (c.pooled.mean - z * se > -c.margin && c.pooled.mean + z * se < c.margin) c.verdict = 'equivalent';
        else if (remembered < options.alpha) [c.verdict, c.direction] = ['different', 'remembered'];
        else if (overshoot < options.alpha) [c.verdict, c.direction] = ['different', 'overshoot'];
      }
    }
    const cells: SummaryCell[] = comparisons.map((c) => {
      const { a } = c;
      const interval = c.paired?.ci95 ?? c.pooled?.ci95;
      return {
        attack: a.attack,
        unlearner: a.unlearner,
        budget: a.budget,
        metric: a.metric,
        text: cellText(c),
        fields: {
          verdict: c.verdict,
          margin: c.margin,
          test: c.a.spec.null === 'standard-normal-scores' ? 'pooled scores vs N(0, 1) null' : c.binary ? 'exact McNemar + binomial equivalence (0/1 per seed)' : 'paired t-test + TOST',
          meanDifference: c.paired ? c.paired.mean : c.pooled ? c.pooled.mean : null,
          differenceLow: interval ? interval[0] : null,
          differenceHigh: interval ? interval[1] : null,
          pairs: c.paired ? c.paired.n : null,
          pValue: c.paired ? c.paired.p : c.pooled ? Math.min(c.pooled.pRemembered, c.pooled.pOvershoot) : null,
          pAdjusted: c.tests.length > 0 ? Math.min(...c.tests.map((i) => adjusted[i])) : null,
          tostP: c.paired ? c.paired.tostP : null,
          direction: c.direction ?? null,
          ...(c.reason && c.a.diverged.length === 0 ? { referenceDiverged: c.reason } : {}),
        },
      };
    });
    const perModel = new Map<string, { a: SeedAggregate; verdicts: Verdict[] }>();
    for (const c of comparisons) {
      if (c.a.role === 'retrained') continue;
      const key = JSON.stringify([c.a.attack, c.a.unlearner, c.a.budget]);
      const entry = perModel.get(key) ?? { a: c.a, verdicts: [] };
      entry.verdicts.push(c.verdict);
      perModel.set(key, entry);
    }
    const rows: SummaryRow[] = [...perModel.values()].map(({ a, verdicts }) => {
      const methodVerdict: Verdict = verdicts.includes('diverged')
        ? 'diverged'
        : verdicts.includes('different')
          ? 'different'
          : verdicts.every((v) => v === 'equivalent')
            ? 'equivalent'
            : verdicts.every((v) => v === 'insufficient')
              ? 'insufficient'
              : 'inconclusive';
      return { attack: a.attack, unlearner: a.unlearner, budget: a.budget, text: methodVerdict, fields: { methodVerdict } };
    });
    const fewest = Math.min(...comparisons.filter((c) => c.paired && c.paired.n >= 2).map((c) => c.paired!.n));
    if (Number.isFinite(fewest) && fewest < 5) {
      notes.push(
        `the per-seed metrics have as few as ${fewest} paired seeds (${fewest - 1} degree${fewest === 2 ? '' : 's'} of freedom): only large or very consistent differences can be called different or equivalent, so expect 'inconclusive'; 5 or more seeds give the paired tests real power. GUS-type metrics pool their per-poison scores and are not limited by this.`,
      );
    }
    const margins = [...new Map(comparisons.map((c) => [c.a.metric, c.margin])).entries()].map(([m, d]) => `${m} ±${d}`).join(', ');
    const correction =
      options.correction === 'holm'
        ? `Holm's correction over the ${family.length} tests for this attack`
        : options.correction === 'benjamini-hochberg'
          ? `Benjamini–Hochberg (false discovery rate) over the ${family.length} tests for this attack`
          : 'no multiplicity correction';
    const level = Math.round((1 - 2 * options.alpha) * 100);
    const selectionRule = comparisons.some((c) => c.a.selectedFrom !== undefined)
      ? ` A variant chosen by the manifest's selection rule among G is called equivalent only at α/G (Bonferroni over the grid); its difference test is unchanged, which is conservative for an oracle choice (the variant closest to retraining).`
      : '';
    const binaryRule = comparisons.some((c) => c.binary)
      ? ` One 0/1 outcome per seed (a target flipped or not): exact McNemar test on the discordant seeds instead of the t-test, and ≈ only if the one-sided ${Math.round(100 * (1 - options.alpha))}% Clopper–Pearson bound of the discordant share lies below the margin.`
      : '';
    return {
      title: 'verdict against retraining',
      rule: [
        `cells: mean of d = model − retrain over paired seeds [95% interval]; ≈ equivalent if the ${level}% interval of d lies inside ±margin (TOST at α = ${options.alpha}); else ≠ different if the two-sided paired t-test rejects d = 0 at α = ${options.alpha} after ${correction}; ? inconclusive otherwise; insufficient below 2 paired seeds; diverged if a model diverged on any seed.${binaryRule}${selectionRule}`,
        `GUS-type scores: all poisons of all seeds pooled, mean score against its exact N(0, 1) null (≈ if the ${level}% interval lies inside ±margin, else ≠ if significantly negative: remembered, or positive: overshoot). Margins: ${margins || 'none'}. Row verdict (over every judged metric, shown or not): equivalent only if ≈ on all, different if ≠ on any.`,
      ].join('\n'),
      cells,
      rows,
      rowHeader: 'verdict',
      notes,
    };
  },
});
