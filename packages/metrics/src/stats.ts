/** Normal-distribution helpers for test statistics. */
import studentCdf from '@stdlib/stats-base-dists-t-cdf';
import studentQuantile from '@stdlib/stats-base-dists-t-quantile';
import betaQuantile from '@stdlib/stats-base-dists-beta-quantile';
import binomialCdf from '@stdlib/stats-base-dists-binomial-cdf';

/** Complementary error function (Numerical Recipes' erfcc, |error| < 1.2e-7). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Standard normal CDF Φ(x). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** Two-sided p-value of a standard-normal statistic z. */
export function twoSidedP(z: number): number {
  return Math.min(1, erfc(Math.abs(z) / Math.SQRT2));
}

/** Φ⁻¹(p) by Acklam's rational approximation refined with one Halley step (accurate to ~1e-7, the accuracy of erfc). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`quantile needs 0 < p < 1, got ${p}`);
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  let x: number;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - low) {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const e = normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** Mean and sample standard deviation (n − 1); std is NaN for fewer than 2 values. */
export function meanStd(values: ArrayLike<number>): { mean: number; std: number } {
  const n = values.length;
  if (n === 0) return { mean: Number.NaN, std: Number.NaN };
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i];
  const mean = sum / n;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (values[i] - mean) ** 2;
  return { mean, std: n > 1 ? Math.sqrt(squares / (n - 1)) : Number.NaN };
}

/** Below this relative size a standard deviation is treated as 0 (rounding noise of equal values). */
const RELATIVE_SD_TOLERANCE = 1e-9;

/** Student t CDF with `df` degrees of freedom (@stdlib). */
export function tCdf(x: number, df: number): number {
  return studentCdf(x, df);
}

/** Student t quantile with `df` degrees of freedom (@stdlib). */
export function tQuantile(p: number, df: number): number {
  return studentQuantile(p, df);
}

/** A paired comparison of per-seed differences d = model − reference, against 0 and against ±margin. */
export interface PairedTest {
  /** Pairs with a value on both sides. */
  readonly n: number;
  readonly mean: number;
  /** Sample standard deviation of the differences (0 when below rounding noise). */
  readonly sd: number;
  readonly df: number;
  /** Two-sided p of the paired t-test of mean difference 0 (NaN for n < 2). */
  readonly p: number;
  /** 95% t-interval of the mean difference. */
  readonly ci95: readonly [number, number];
  /** 90% t-interval of the mean difference (the TOST interval at α = 0.05). */
  readonly ci90: readonly [number, number];
  /** p of the two one-sided tests (TOST) of |mean difference| ≥ margin; NaN without a margin. */
  readonly tostP: number;
}

/**
 * Paired t-test (two-sided) of the mean of `differences` against 0, and Schuirmann's two one-sided
 * tests (TOST) against ±`margin`: equivalence at level α holds iff `tostP < α`, i.e. iff the
 * (1 − 2α) t-interval lies inside (−margin, margin). Differences whose spread is rounding noise
 * give p = 0 (or 1 for a zero mean) and a point interval.
 */
export function pairedTTest(differences: readonly number[], margin?: number): PairedTest {
  const n = differences.length;
  const none = [Number.NaN, Number.NaN] as const;
  if (n < 2) return { n, mean: n === 1 ? differences[0] : Number.NaN, sd: Number.NaN, df: n - 1, p: Number.NaN, ci95: none, ci90: none, tostP: Number.NaN };
  const { mean, std } = meanStd(differences);
  const df = n - 1;
  const sd = std <= RELATIVE_SD_TOLERANCE * Math.max(1, Math.abs(mean)) ? 0 : std;
  if (sd === 0) {
    const zero = Math.abs(mean) <= RELATIVE_SD_TOLERANCE;
    const tostP = margin === undefined ? Number.NaN : Math.abs(mean) < margin ? 0 : 1;
    return { n, mean, sd, df, p: zero ? 1 : 0, ci95: [mean, mean], ci90: [mean, mean], tostP };
  }
  const se = sd / Math.sqrt(n);
  const p = Math.min(1, 2 * tCdf(-Math.abs(mean / se), df));
  const h95 = tQuantile(0.975, df) * se;
  const h90 = tQuantile(0.95, df) * se;
  let tostP = Number.NaN;
  if (margin !== undefined) {
    const above = 1 - tCdf((mean + margin) / se, df); // H0: mean ≤ −margin
    const below = tCdf((mean - margin) / se, df); // H0: mean ≥ +margin
    tostP = Math.max(above, below);
  }
  return { n, mean, sd, df, p, ci95: [mean - h95, mean + h95], ci90: [mean - h90, mean + h90], tostP };
}

/**
 * Holm's step-down adjustment of p-values (controls the family-wise error rate at α when adjusted
 * p < α); NaN entries are left out of the family and stay NaN.
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  const order = pValues.map((p, i) => [p, i] as const).filter(([p]) => Number.isFinite(p)).sort((a, b) => a[0] - b[0]);
  const m = order.length;
  const adjusted = pValues.map(() => Number.NaN);
  let running = 0;
  order.forEach(([p, i], rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    adjusted[i] = running;
  });
  return adjusted;
}

/**
 * Benjamini–Hochberg step-up adjustment (controls the false discovery rate at α when adjusted
 * p < α, for independent or positively dependent tests); NaN entries are left out.
 */
export function benjaminiHochbergAdjust(pValues: readonly number[]): number[] {
  const order = pValues.map((p, i) => [p, i] as const).filter(([p]) => Number.isFinite(p)).sort((a, b) => a[0] - b[0]);
  const m = order.length;
  const adjusted = pValues.map(() => Number.NaN);
  let running = 1;
  for (let rank = m - 1; rank >= 0; rank--) {
    const [p, i] = order[rank];
    running = Math.min(running, Math.min(1, (m * p) / (rank + 1)));
    adjusted[i] = running;
  }
  return adjusted;
}

/** Per-seed summary of per-unit scores (GUS details). */
export interface ScoreSummary {
  readonly mean: number;
  readonly std: number;
  readonly k: number;
}

/** Per-unit scores of several seeds pooled: the test of "mean 0" against their exact N(0, 1) null. */
export interface PooledScores {
  /** Scores in all. */
  readonly k: number;
  /** Mean score over all of them. */
  readonly mean: number;
  /** Pooled sample standard deviation (within and between seeds). */
  readonly sd: number;
  /** z = √k · mean: N(0, 1) exactly when every score is N(0, 1) and independent. */
  readonly z: number;
  /** One-sided p of a negative mean (the poison remembered): Φ(z). */
  readonly pRemembered: number;
  /** One-sided p of a positive mean (overshoot, pushed past a clean model): 1 − Φ(z). */
  readonly pOvershoot: number;
  /** 95% interval of the mean (normal, with the pooled sd). */
  readonly ci95: readonly [number, number];
  /** 90% interval of the mean (the TOST interval at α = 0.05). */
  readonly ci90: readonly [number, number];
}

/** Pools the per-seed score summaries `parts` (seeds without scores left out). */
export function poolScores(parts: readonly ScoreSummary[]): PooledScores {
  const used = parts.filter((p) => p.k > 0 && Number.isFinite(p.mean));
  const k = used.reduce((a, p) => a + p.k, 0);
  const none = [Number.NaN, Number.NaN] as const;
  if (k === 0) return { k, mean: Number.NaN, sd: Number.NaN, z: Number.NaN, pRemembered: Number.NaN, pOvershoot: Number.NaN, ci95: none, ci90: none };
  const mean = used.reduce((a, p) => a + p.k * p.mean, 0) / k;
  const squares = used.reduce((a, p) => a + (p.k > 1 && Number.isFinite(p.std) ? (p.k - 1) * p.std * p.std : 0) + p.k * (p.mean - mean) ** 2, 0);
  const sd = k > 1 ? Math.sqrt(squares / (k - 1)) : Number.NaN;
  const z = Math.sqrt(k) * mean;
  const se = sd / Math.sqrt(k);
  const q95 = normalQuantile(0.975);
  const q90 = normalQuantile(0.95);
  return { k, mean, sd, z, pRemembered: normalCdf(z), pOvershoot: normalCdf(-z), ci95: [mean - q95 * se, mean + q95 * se], ci90: [mean - q90 * se, mean + q90 * se] };
}

/**
 * Ratio a/b of two means with a 95% delta-method interval, from their standard errors; the
 * covariance is left out (conservative when the two are positively correlated, as the same
 * poisons' scores under two models are). NaN when b's interval includes 0.
 */
export function ratioInterval(a: number, seA: number, b: number, seB: number): { ratio: number; ci95: readonly [number, number] } {
  const ratio = a / b;
  if (!(Math.abs(b) > 1.959963984540054 * seB)) return { ratio: Number.NaN, ci95: [Number.NaN, Number.NaN] };
  const se = Math.sqrt(seA * seA + ratio * ratio * seB * seB) / Math.abs(b);
  return { ratio, ci95: [ratio - 1.959963984540054 * se, ratio + 1.959963984540054 * se] };
}

/** One-sided Clopper–Pearson bounds (level `level`) for `x` successes of `n`. */
function clopperPearson(x: number, n: number, level: number): { low: number; high: number } {
  return { low: x === 0 ? 0 : betaQuantile(1 - level, x, n - x + 1), high: x === n ? 1 : betaQuantile(level, x + 1, n - x) };
}

/**
 * Paired comparison of one 0/1 outcome per seed (a Witches' Brew target flipped or not) between a
 * model and the reference, with exact tests instead of a t-test, whose normal approximation fails
 * on a handful of 0/1 differences (eight equal outcomes would give a zero-width interval):
 *   - difference: McNemar's exact test on the discordant seeds (b: model 1 and reference 0; c: the
 *     reverse), p = 2 · P(Bin(b + c, ½) ≤ min(b, c));
 *   - equivalence: |mean d| ≤ (b + c)/n, so equivalence within ±margin holds when the discordance
 *     rate is shown below margin: p = P(Bin(n, margin) ≤ b + c) (reject for p < α), i.e. the
 *     one-sided Clopper–Pearson upper bound of (b + c)/n lies below margin;
 *   - intervals of d = b/n − c/n from Clopper–Pearson bounds of b/n and c/n at half the level each.
 */
export function pairedBinaryTest(model: readonly number[], reference: readonly number[], margin: number): PairedTest {
  const n = model.length;
  let b = 0;
  let c = 0;
  model.forEach((m, i) => {
    if (m === 1 && reference[i] === 0) b++;
    if (m === 0 && reference[i] === 1) c++;
  });
  const mean = (b - c) / n;
  const discordant = b + c;
  const p = discordant === 0 ? 1 : Math.min(1, 2 * binomialCdf(Math.min(b, c), discordant, 0.5));
  const interval = (level: number): readonly [number, number] => {
    const half = 1 - (1 - level) / 4; // each one-sided bound of b/n and c/n at (1 − level)/4
    const bb = clopperPearson(b, n, half);
    const cc = clopperPearson(c, n, half);
    return [Math.max(-1, bb.low - cc.high), Math.min(1, bb.high - cc.low)];
  };
  return { n, mean, sd: Number.NaN, df: n - 1, p, ci95: interval(0.95), ci90: interval(0.9), tostP: binomialCdf(discordant, n, margin) };
}
