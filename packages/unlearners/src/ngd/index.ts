/**
 * `core/ngd`: noisy gradient descent, a baseline of Pawelczyk et al. (ICLR 2025, arXiv 2406.17216):
 * SGD on the retain set, as `core/gd`, with fresh Gaussian noise N(0, σ²) added to every
 * minibatch gradient before the momentum update. σ = 0 is exactly `core/gd`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, defineUnlearner, trainSgd, type ClassifierModel } from '@unlearn-bench/core';
import { applyOverrides, RECIPE_OVERRIDE_PROPERTIES, type RecipeOverrides } from '../recipe.ts';

/** Options of `core/ngd`. */
export interface NgdOptions extends RecipeOverrides {
  /** Standard deviation σ of the noise added to each gradient coordinate. @default 0.01 */
  readonly sigma: number;
}

/** `core/ngd`: fine-tune on the retain set with Gaussian gradient noise, within the budget. */
export const ngdUnlearner = defineUnlearner<NgdOptions>({
  id: 'ngd',
  description: 'Noisy gradient descent: gradient descent on the retain set with Gaussian noise N(0, σ²) added to every gradient.',
  references: [{ title: 'Pawelczyk et al., Machine Unlearning Fails to Remove Data Poisoning Attacks, ICLR 2025', url: 'https://arxiv.org/abs/2406.17216' }],
  requires: ['parameters'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      sigma: { type: 'number', minimum: 0, default: 0.01, description: 'Standard deviation σ of the Gaussian noise added to each gradient coordinate; 0 gives plain gradient descent.' },
      ...RECIPE_OVERRIDE_PROPERTIES,
    },
  },
  create(options, ctx) {
    return {
      unlearn({ model, retain, training }) {
        const maxExamples = ctx.meter.remaining;
        if (!Number.isFinite(maxExamples)) throw new RangeError('core/ngd needs a finite budget');
        const copy = model.clone();
        const noiseRng = ctx.rng.fork('gradient-noise');
        // Adding ⟨ξ, w⟩ with a constant ξ to the loss adds exactly ξ to the gradient w.r.t. w.
        const noisyLoss = (m: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D): tf.Scalar => {
          const loss = crossEntropy(m.logits(x), y);
          if (options.sigma === 0) return loss;
          const terms = m.parameters().map((w) => tf.sum(tf.mul(tf.randomNormal(w.shape, 0, options.sigma, 'float32', noiseRng.int(2 ** 31)), w)));
          return tf.add(loss, tf.addN(terms)) as tf.Scalar;
        };
        trainSgd(copy, retain, {
          ...applyOverrides(training, options),
          epochs: Math.ceil(maxExamples / Math.max(1, retain.count)) + 1,
          maxExamples,
          loss: noisyLoss,
          rng: ctx.rng,
          meter: ctx.meter,
          logger: ctx.logger,
          label: 'ngd',
        });
        return copy;
      },
    };
  },
});
