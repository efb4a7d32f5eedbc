/**
 * `core/neggrad-plus`: NegGrad+ of Kurmanji et al., "Towards Unbounded Machine Unlearning"
 * (NeurIPS 2023, arXiv 2302.09880): each SGD step descends β·L(retain batch) − (1−β)·L(forget batch).
 * Both batches count against the budget; β = 1 is exactly `core/gd` (no forget batches are drawn).
 */
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, defineUnlearner, inputsTensor, labelsTensor, trainSgd, type ClassifierModel, type Examples, type Rng } from '@unlearn-bench/core';

/** Options of `core/neggrad-plus`. */
export interface NegGradPlusOptions {
  /** Weight β of the retain loss; the forget loss gets −(1−β). @default 0.999 */
  readonly beta: number;
  /** Batch size of both the retain and the forget batches; null uses the training recipe's. @default null */
  readonly batchSize: number | null;
  /** Learning rate; null uses the training recipe's. @default null */
  readonly learningRate: number | null;
  /** Momentum; null uses the training recipe's. @default null */
  readonly momentum: number | null;
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
      beta: { type: 'number', minimum: 0, maximum: 1, default: 0.999, description: 'Weight β of the retain loss; the forget loss is weighted −(1−β). 1 gives plain gradient descent.' },
      batchSize: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Size of each retain and each forget batch; null uses the training recipe’s.' },
      learningRate: { type: ['number', 'null'], exclusiveMinimum: 0, default: null, description: 'Learning rate; null uses the training recipe’s.' },
      momentum: { type: ['number', 'null'], minimum: 0, exclusiveMaximum: 1, default: null, description: 'Momentum; null uses the training recipe’s.' },
    },
  },
  create(options, ctx) {
    return {
      unlearn({ model, forget, retain, training }) {
        const budget = ctx.meter.remaining;
        if (!Number.isFinite(budget)) throw new RangeError('core/neggrad-plus needs a finite budget');
        const batchSize = options.batchSize ?? training.batchSize;
        const { beta } = options;
        const forgetBatch = beta < 1 ? Math.min(batchSize, forget.count) : 0;
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
          ...training,
          learningRate: options.learningRate ?? training.learningRate,
          batchSize,
          momentum: options.momentum ?? training.momentum,
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
