/**
 * `core/neggrad-plus`: NegGrad+ of Kurmanji et al., "Towards Unbounded Machine Unlearning"
 * (NeurIPS 2023, arXiv 2302.09880): each step descends β·L(retain batch) − (1−β)·L(forget batch).
 * Both batches count against the budget; β = 1 is exactly `core/gd` (no forget batches are drawn).
 * Defaults follow the authors' code (meghdadk/SCRUB): `negative_grad` in
 * small_scale_unlearning.ipynb builds `torch.optim.SGD(lr=0.01, weight_decay=0)` (no momentum)
 * and sets `ng_alpha = 0.95`; the large-scale notebook (large_scale_ictest) uses 0.9999.
 */
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, defineUnlearner, inputsTensor, labelsTensor, trainSgd, type ClassifierModel, type Examples, type Rng } from '@unlearn-bench/core';
import { applyOverrides, RECIPE_OVERRIDE_PROPERTIES, type RecipeOverrides } from '../recipe.ts';

/** Options of `core/neggrad-plus`. */
export interface NegGradPlusOptions extends RecipeOverrides {
  /** Weight β of the retain loss; the forget loss gets −(1−β). @default 0.95 (the authors' small-scale value) */
  readonly beta: number;
  /** Size of each forget batch; null uses `batchSize`. @default null */
  readonly forgetBatchSize?: number | null;
}

/** Endless reshuffled passes over `count` indices. */
function cyclicSampler(count: number, rng: Rng): (take: number) => Int32Array {
  let order = rng.permutation(count);
  let cursor = 0;
  return (take) => {
    const out = new Int32Array(take);
    for (let i = 0; i < take; i++) {
      if (cursor === count) {
        order = rng.permutation(count);
        cursor = 0;
      }
      out[i] = order[cursor++];
    }
    return out;
  };
}

/** `core/neggrad-plus`: descend the retain loss and ascend the forget loss, within the budget. */
export const negGradPlusUnlearner = defineUnlearner<NegGradPlusOptions>({
  id: 'neggrad-plus',
  description: 'NegGrad+: gradient descent on β·L(retain) − (1−β)·L(forget), one retain and one forget batch per step.',
  references: [{ title: 'Kurmanji et al., Towards Unbounded Machine Unlearning, NeurIPS 2023', url: 'https://arxiv.org/abs/2302.09880' }],
  requires: ['parameters'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      beta: { type: 'number', minimum: 0, maximum: 1, default: 0.95, description: 'Weight β of the retain loss; the forget loss is weighted −(1−β). 1 gives plain gradient descent. Default: the authors’ small-scale value (0.9999 at large scale).' },
      ...RECIPE_OVERRIDE_PROPERTIES,
      batchSize: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Size of each retain batch (and of each forget batch unless forgetBatchSize is set); null uses the training recipe’s.' },
      forgetBatchSize: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Size of each forget batch; null uses batchSize.' },
      learningRate: { type: ['number', 'null'], exclusiveMinimum: 0, default: 0.01, description: 'Learning rate (the authors’ ng_lr 0.01); null uses the training recipe’s.' },
      momentum: { type: ['number', 'null'], minimum: 0, exclusiveMaximum: 1, default: 0, description: 'SGD momentum: 0, as the authors’ plain torch.optim.SGD; null uses the training recipe’s.' },
      weightDecay: { type: ['number', 'null'], minimum: 0, default: 0, description: 'Weight decay: 0, as the authors’ SGD(weight_decay=0); null uses the training recipe’s.' },
    },
  },
  create(options, ctx) {
    return {
      unlearn({ model, forget, retain, training }) {
        const budget = ctx.meter.remaining;
        if (!Number.isFinite(budget)) throw new RangeError('core/neggrad-plus needs a finite budget');
        const recipe = applyOverrides(training, options);
        const batchSize = recipe.batchSize;
        const { beta } = options;
        const forgetBatch = beta < 1 ? Math.min(options.forgetBatchSize ?? batchSize, forget.count) : 0;
        // Split the budget in the ratio of one step's retain and forget examples.
        const maxRetain = forgetBatch > 0 ? Math.floor((budget * batchSize) / (batchSize + forgetBatch)) : budget;
        const nextForget = cyclicSampler(forget.count, ctx.rng.fork('forget-order'));
        let retainSeen = 0;
        const forgetLoss = (m: ClassifierModel, examples: Examples, take: number): tf.Scalar => {
          const indices = nextForget(take);
          ctx.meter.spend(take);
          return crossEntropy(m.logits(inputsTensor(examples, indices)), labelsTensor(examples, indices));
        };
        const objective = (m: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D): tf.Scalar => {
          retainSeen += x.shape[0];
          const retainLoss = crossEntropy(m.logits(x), y);
          if (forgetBatch === 0) return beta === 1 ? retainLoss : tf.mul(retainLoss, beta);
          // Keep room for the retain examples still planned, so the meter never runs dry mid-run.
          const take = Math.min(forgetBatch, ctx.meter.remaining - (maxRetain - retainSeen));
          if (take <= 0) return tf.mul(retainLoss, beta);
          return tf.sub(tf.mul(retainLoss, beta), tf.mul(forgetLoss(m, forget, take), 1 - beta));
        };
        const copy = model.clone();
        trainSgd(copy, retain, {
          ...recipe,
          epochs: Math.ceil(maxRetain / Math.max(1, retain.count)) + 1,
          maxExamples: maxRetain,
          loss: objective,
          rng: ctx.rng,
          meter: ctx.meter,
          logger: ctx.logger,
          label: 'neggrad-plus',
        });
        return copy;
      },
    };
  },
});
