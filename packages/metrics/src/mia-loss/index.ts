/**
 * Loss-threshold membership inference (Yeom et al. 2018, arXiv 1709.01604) on the forget set: a
 * point is called a member when its loss is at most τ, with τ calibrated on held-out non-members
 * (half of the test set) to a target false-positive rate. Reported: AUC of "low loss ⇒ member"
 * between forget points and all test points (value), and the TPR at the calibrated FPR. This is
 * the kind of metric Pawelczyk et al. (ICLR 2025) show can call an unlearned model "clean" while
 * GUS still finds the poison.
 */
import { defineMetric, perExampleLoss } from '@unlearn-bench/core';

/** Options of `core/mia-loss`. */
export interface MiaLossOptions {
  /** False-positive rate the threshold is calibrated to. @default 0.01 */
  readonly fpr: number;
  /** Fraction of the test set used to calibrate τ (the rest measures the realised FPR). @default 0.5 */
  readonly calibrationFraction: number;
}

/**
 * AUC of separating `members` from `nonMembers` by low loss: P(member loss < non-member loss),
 * ties counting ½ (Mann–Whitney U / (n·m)), computed by sorting.
 */
export function lossAuc(members: ArrayLike<number>, nonMembers: ArrayLike<number>): number {
  // A non-finite loss (a diverged model) has no rank: the AUC is undefined, not 1.
  if (!Array.from(members).every(Number.isFinite) || !Array.from(nonMembers).every(Number.isFinite)) return Number.NaN;
  const all = [
    ...Array.from(members, (loss) => ({ loss, member: true })),
    ...Array.from(nonMembers, (loss) => ({ loss, member: false })),
  ].sort((a, b) => a.loss - b.loss);
  // Average ranks (1-based) over ties, then U for members from the rank sum.
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1].loss === all[i].loss) j++;
    const rank = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) if (all[k].member) rankSum += rank;
    i = j + 1;
  }
  const n = members.length;
  const m = nonMembers.length;
  const u = rankSum - (n * (n + 1)) / 2; // pairs where the member's loss is LARGER
  return 1 - u / (n * m);
}

/** The next representable-ish value below `x` (JavaScript has no Math.nextDown). */
function below(x: number): number {
  return x - Math.max(Math.abs(x) * Number.EPSILON, Number.MIN_VALUE);
}

/** The largest threshold τ with at most `fpr` of `losses` ≤ τ (so "loss ≤ τ ⇒ member" has FPR ≤ fpr). */
export function calibrateThreshold(losses: ArrayLike<number>, fpr: number): number {
  const sorted = Float64Array.from(losses).sort();
  const allowed = Math.floor(fpr * sorted.length); // how many non-members may fall at or below τ
  if (allowed === 0) return below(sorted[0]);
  const candidate = sorted[allowed - 1];
  // Ties at the boundary would admit more than `allowed`; step below them.
  return sorted[allowed] === candidate ? below(candidate) : candidate;
}

/** `core/mia-loss`: membership inference by loss threshold on the forget set. */
export const miaLossMetric = defineMetric<MiaLossOptions>({
  id: 'mia-loss',
  description: 'Loss-threshold membership inference on the forget set: AUC (value) and TPR at the calibrated FPR against held-out test points.',
  references: [{ title: 'Yeom et al., Privacy Risk in Machine Learning: Analyzing the Connection to Overfitting, CSF 2018', url: 'https://arxiv.org/abs/1709.01604' }],
  results: {
    // 0.03 of AUC: the poisoned-vs-retrained AUC gaps of the study's MIA are 0.05–0.1; seed spread
    // of the AUC here is about 0.01.
    '': { margin: 0.03, range: [0, 1] },
  },
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      fpr: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.01, description: 'False-positive rate the threshold is calibrated to.' },
      calibrationFraction: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.5, description: 'Fraction of the test set used to calibrate the threshold.' },
    },
  },
  create(options, ctx) {
    let split: { calibration: Int32Array; evaluation: Int32Array } | undefined;
    return {
      compute({ model, poisons, data }) {
        if (poisons.count === 0) throw new Error('core/mia-loss needs a non-empty forget set');
        // One split per cell group, shared by every model, so their numbers are comparable.
        split ??= (() => {
          const order = ctx.rng.fork('calibration').permutation(data.test.count);
          const cut = Math.max(1, Math.min(data.test.count - 1, Math.round(options.calibrationFraction * data.test.count)));
          return { calibration: order.slice(0, cut), evaluation: order.slice(cut) };
        })();
        const members = perExampleLoss(model, poisons);
        const testLoss = perExampleLoss(model, data.test);
        const calibration = Float64Array.from(split.calibration, (i) => testLoss[i]);
        const evaluation = Float64Array.from(split.evaluation, (i) => testLoss[i]);
        const threshold = calibrateThreshold(calibration, options.fpr);
        const tpr = members.reduce((n, loss) => n + (loss <= threshold ? 1 : 0), 0) / members.length;
        const realisedFpr = evaluation.reduce((n, loss) => n + (loss <= threshold ? 1 : 0), 0) / evaluation.length;
        return {
          value: lossAuc(members, testLoss),
          details: { tpr, fpr: options.fpr, realisedFpr, threshold, members: members.length, nonMembers: testLoss.length },
        };
      },
    };
  },
});
