/**
 * `core/ssd`: Selective Synaptic Dampening of Foster et al. (AAAI 2024, arXiv 2308.07707). Diagonal
 * Fisher importances, the mean over batches of squared loss gradients, are computed on the forget
 * set (U) and on the retain set (S). Every parameter θᵢ with []_U,i > α·[]_S,i is multiplied by
 * min(λ·[]_S,i / []_U,i, 1); all others stay bit-identical. No gradient steps are taken, but each
 * example whose gradient enters a Fisher estimate counts against the budget: the forget Fisher uses
 * up to half of the budget, the retain Fisher a random subsample of the retain set that fits the rest.
 */
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, defineUnlearner, inputsTensor, labelsTensor, type BudgetMeter, type ClassifierModel, type Examples } from '@unlearn-bench/core';

/** Options of `core/ssd`. */
export interface SsdOptions {
  /** Selection threshold α: dampen θᵢ when its forget importance exceeds α × its retain importance. @default 10 */
  readonly alpha: number;
  /** Dampening constant λ: θᵢ is multiplied by min(λ·retain/forget importance, 1). @default 1 */
  readonly lambda: number;
  /**
   * Examples per squared gradient in the Fisher estimates; null uses the training recipe's batch
   * size (the reference code squares minibatch gradients); 1 gives the per-example diagonal Fisher.
   * @default null
   */
  readonly batchSize: number | null;
}

/**
 * Mean over batches of the squared gradient of the mean cross-entropy, per parameter, in
 * `model.parameters()` order. Spends one budget example per example used. The caller owns the result.
 */
function fisherDiagonal(model: ClassifierModel, examples: Examples, indices: Int32Array, batchSize: number, meter: BudgetMeter): tf.Tensor[] {
  const variables = model.parameters();
  const sums: tf.Tensor[] = variables.map((v) => tf.zerosLike(v));
  let batches = 0;
  for (let offset = 0; offset < indices.length; offset += batchSize) {
    const batch = indices.subarray(offset, Math.min(indices.length, offset + batchSize));
    meter.spend(batch.length);
    tf.tidy(() => {
      const x = inputsTensor(examples, batch);
      const y = labelsTensor(examples, batch);
      const { grads } = tf.variableGrads(() => crossEntropy(model.logits(x), y), variables as tf.Variable[]);
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

/** `core/ssd`: dampen parameters far more important to the forget set than to the retain set. */
export const ssdUnlearner = defineUnlearner<SsdOptions>({
  id: 'ssd',
  description: 'Selective Synaptic Dampening: shrink parameters whose Fisher importance on the forget set exceeds α times that on the retain set; no gradient steps.',
  references: [{ title: 'Foster, Schoepf, Brintrup, Fast Machine Unlearning Without Retraining Through Selective Synaptic Dampening, AAAI 2024', url: 'https://arxiv.org/abs/2308.07707' }],
  requires: ['parameters'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      alpha: { type: 'number', exclusiveMinimum: 0, default: 10, description: 'Selection threshold α: a parameter is dampened when its forget importance exceeds α times its retain importance.' },
      lambda: { type: 'number', exclusiveMinimum: 0, default: 1, description: 'Dampening constant λ: a selected parameter is multiplied by min(λ · retain importance / forget importance, 1).' },
      batchSize: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Examples per squared gradient in the Fisher estimates; null uses the training recipe’s batch size (as the reference code squares minibatch gradients); 1 gives the per-example diagonal Fisher (slow).' },
    },
  },
  create(options, ctx) {
    return {
      unlearn({ model, forget, retain, training }) {
        const budget = ctx.meter.remaining;
        if (!Number.isFinite(budget)) throw new RangeError('core/ssd needs a finite budget');
        const forgetCount = Math.min(forget.count, Math.floor(budget / 2));
        const retainCount = Math.min(retain.count, budget - forgetCount);
        if (forgetCount === 0 || retainCount === 0) {
          ctx.logger.warn(`core/ssd: a budget of ${budget} examples leaves no room for both Fisher estimates; returning the model unchanged`);
          return model.clone();
        }
        const forgetIndices = ctx.rng.fork('forget-sample').permutation(forget.count).subarray(0, forgetCount);
        const retainIndices = ctx.rng.fork('retain-sample').permutation(retain.count).subarray(0, retainCount);
        const forgetImportance = fisherDiagonal(model, forget, forgetIndices, options.batchSize ?? training.batchSize, ctx.meter);
        const retainImportance = fisherDiagonal(model, retain, retainIndices, options.batchSize ?? training.batchSize, ctx.meter);
        const copy = model.clone();
        tf.tidy(() => {
          copy.parameters().forEach((w, i) => {
            const f = forgetImportance[i];
            const r = retainImportance[i];
            const selected = tf.greater(f, tf.mul(r, options.alpha));
            const factor = tf.minimum(tf.div(tf.mul(r, options.lambda), f), 1);
            w.assign(tf.where(selected, tf.mul(w, factor), w));
          });
        });
        tf.dispose([...forgetImportance, ...retainImportance]);
        return copy;
      },
    };
  },
});
