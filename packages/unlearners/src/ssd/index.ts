/**
 * `core/ssd`: Selective Synaptic Dampening of Foster et al. (AAAI 2024, arXiv 2308.07707). Diagonal
 * importances, the mean over minibatches of squared loss gradients, are computed on the forget set
 * U and, as the reference, on the whole training set D = S ∪ U (the authors' `ssd_tuning` in
 * forget_random_strategies.py calls `calc_importance(full_train_dl)`, a loader over S followed by
 * U, unshuffled). Every parameter θᵢ with []_U,i > α·[]_D,i is multiplied by min(λ·[]_D,i / []_U,i, 1);
 * all others stay bit-identical. No gradient steps are taken, but each example whose gradient enters
 * an importance counts against the budget; when |U| + |D| does not fit, the reference uses a
 * random subsample of D stratified so that U keeps its share of D.
 */
import * as tf from '@tensorflow/tfjs-core';
import { concatExamples, crossEntropy, defineUnlearner, inputsTensor, labelsTensor, selectExamples, type BudgetMeter, type ClassifierModel, type Examples, type Rng } from '@unlearn-bench/core';

/** Where the reference importance comes from. */
export type SsdReference = 'subsample' | 'full';

/** Options of `core/ssd`. */
export interface SsdOptions {
  /**
   * Selection weighting α: dampen θᵢ when its forget importance exceeds α × its reference
   * importance (`selection_weighting = 10` in the authors' forget_random_main.py). @default 10
   */
  readonly alpha: number;
  /**
   * Dampening constant λ: θᵢ is multiplied by min(λ·reference/forget importance, 1)
   * (`dampening_constant = 1` in the authors' forget_random_main.py). @default 1
   */
  readonly lambda: number;
  /**
   * Examples per squared gradient in both importances (the authors' loaders use 128); null uses
   * the training recipe's batch size; 1 gives the per-example diagonal Fisher. @default 128
   */
  readonly batchSize: number | null;
  /**
   * `subsample`: the reference importance uses as much of D as the budget leaves after the forget
   * importance, all of D when it fits, otherwise a random subsample stratified so U keeps its share
   * of D. `full`: always all of D, as the authors do; fails when |U| + |D| exceeds the budget.
   * @default "subsample"
   */
  readonly reference: SsdReference;
}

/** Which rows of S and of U make up the reference sample, each in dataset order. */
export interface ReferenceSample {
  readonly retain: Int32Array;
  readonly forget: Int32Array;
}

/**
 * `size` rows of D = S ∪ U drawn without replacement, stratified: round(size·|U|/|D|) from U, the
 * rest from S; all of D (in order) when `size` ≥ |D|. Indices are sorted, so the sample is read in
 * the dataset's order, as the authors' unshuffled loader reads D.
 */
export function referenceSample(retainCount: number, forgetCount: number, size: number, rng: Rng): ReferenceSample {
  const total = retainCount + forgetCount;
  const all = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
  if (size >= total) return { retain: all(retainCount), forget: all(forgetCount) };
  const fromForget = Math.min(forgetCount, Math.round((size * forgetCount) / total));
  const fromRetain = Math.min(retainCount, size - fromForget);
  const draw = (n: number, k: number, label: string) => rng.fork(label).permutation(n).subarray(0, k).sort();
  return { retain: draw(retainCount, fromRetain, 'reference-retain'), forget: draw(forgetCount, fromForget, 'reference-forget') };
}

/**
 * Mean over minibatches (consecutive, in the given order) of the squared gradient of the mean
 * cross-entropy, per parameter, in `model.parameters()` order. Spends one budget example per
 * example. The caller owns the result.
 */
function importance(model: ClassifierModel, examples: Examples, batchSize: number, meter: BudgetMeter): tf.Tensor[] {
  const variables = model.parameters();
  const sums: tf.Tensor[] = variables.map((v) => tf.zerosLike(v));
  let batches = 0;
  for (let offset = 0; offset < examples.count; offset += batchSize) {
    const batch = Int32Array.from({ length: Math.min(batchSize, examples.count - offset) }, (_, i) => offset + i);
    meter.spend(batch.length);
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => crossEntropy(model.logits(inputsTensor(examples, batch)), labelsTensor(examples, batch)), variables as tf.Variable[]);
      variables.forEach((v, i) => {
        const g = grads[v.name];
        if (!g) return;
        const next = tf.keep(tf.add(sums[i], tf.square(g)));
        sums[i].dispose();
        sums[i] = next;
      });
    });
    batches += 1;
  }
  const means = sums.map((s) => tf.div(s, Math.max(1, batches)));
  tf.dispose(sums);
  return means;
}

/** `core/ssd`: dampen parameters far more important to the forget set than to the training set. */
export const ssdUnlearner = defineUnlearner<SsdOptions>({
  id: 'ssd',
  description: 'Selective Synaptic Dampening: shrink parameters whose importance on the forget set exceeds α times that on the whole training set; no gradient steps.',
  references: [
    { title: 'Foster, Schoepf, Brintrup, Fast Machine Unlearning Without Retraining Through Selective Synaptic Dampening, AAAI 2024', url: 'https://arxiv.org/abs/2308.07707' },
    { title: 'Authors’ code: if-loops/selective-synaptic-dampening (ssd.py, forget_random_strategies.py, forget_random_main.py)', url: 'https://github.com/if-loops/selective-synaptic-dampening' },
  ],
  requires: ['parameters'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      alpha: { type: 'number', exclusiveMinimum: 0, default: 10, description: 'Selection weighting α: a parameter is dampened when its forget importance exceeds α times its reference (training-set) importance; the authors use 10.' },
      lambda: { type: 'number', exclusiveMinimum: 0, default: 1, description: 'Dampening constant λ: a selected parameter is multiplied by min(λ · reference importance / forget importance, 1); the authors use 1.' },
      batchSize: { type: ['integer', 'null'], minimum: 1, default: 128, description: 'Examples per squared gradient in both importances (the authors’ loaders use 128); null uses the training recipe’s batch size; 1 gives the per-example diagonal Fisher (slow).' },
      reference: {
        type: 'string',
        enum: ['subsample', 'full'],
        default: 'subsample',
        description: 'Reference importance on the training set D = S ∪ U: "subsample" uses all of D when the budget allows and otherwise a random subsample of D of the size the budget leaves, stratified so U keeps its share; "full" always uses all of D, as the authors do, and fails when |U| + |D| exceeds the budget.',
      },
    },
  },
  create(options, ctx) {
    return {
      unlearn({ model, forget, retain, training }) {
        const budget = ctx.meter.remaining;
        if (!Number.isFinite(budget)) throw new RangeError('core/ssd needs a finite budget');
        const trainCount = retain.count + forget.count;
        if (options.reference === 'full' && budget < forget.count + trainCount) {
          const fraction = (forget.count + trainCount) / (training.epochs * retain.count);
          throw new RangeError(
            `core/ssd: options.reference is "full", which needs ${forget.count + trainCount} budget examples (|U| = ${forget.count} for the forget importance, |D| = |S| + |U| = ${trainCount} for the reference), but the budget allows ${budget}; ` +
              `use a budget of at least ${fraction.toPrecision(3)} of retraining's compute, or set reference to "subsample"`,
          );
        }
        const forgetCount = Math.min(forget.count, Math.floor(budget / 2));
        const referenceSize = Math.min(trainCount, budget - forgetCount);
        if (forgetCount === 0 || referenceSize === 0) {
          ctx.logger.warn(`core/ssd: a budget of ${budget} examples leaves no room for both importances; returning the model unchanged`);
          return model.clone();
        }
        const forgetSet = forgetCount === forget.count ? forget : selectExamples(forget, ctx.rng.fork('forget-sample').permutation(forget.count).subarray(0, forgetCount).sort());
        const sample = referenceSample(retain.count, forget.count, referenceSize, ctx.rng);
        if (forgetCount < forget.count || referenceSize < trainCount) {
          ctx.logger.info(
            `core/ssd: the budget (${budget} examples) is below |U| + |D| = ${forget.count + trainCount}: forget importance on ${forgetCount} of ${forget.count} forget examples, reference on ${referenceSize} of ${trainCount} training examples (${sample.forget.length} from U)`,
          );
        }
        const batchSize = options.batchSize ?? training.batchSize;
        const forgetImportance = importance(model, forgetSet, batchSize, ctx.meter);
        const referenceExamples = concatExamples(selectExamples(retain, sample.retain), selectExamples(forget, sample.forget));
        const referenceImportance = importance(model, referenceExamples, batchSize, ctx.meter);
        const copy = model.clone();
        tf.tidy(() => {
          copy.parameters().forEach((w, i) => {
            const f = forgetImportance[i];
            const r = referenceImportance[i];
            const selected = tf.greater(f, tf.mul(r, options.alpha));
            const factor = tf.minimum(tf.div(tf.mul(r, options.lambda), f), 1);
            w.assign(tf.where(selected, tf.mul(w, factor), w));
          });
        });
        tf.dispose([...forgetImportance, ...referenceImportance]);
        return copy;
      },
    };
  },
});
