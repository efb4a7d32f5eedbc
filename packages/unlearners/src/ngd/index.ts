/**
 * `core/ngd`: noisy gradient descent, a baseline of Pawelczyk et al. (ICLR 2025, arXiv 2406.17216):
 * gradient descent on the retain set, as `core/gd`, with fresh Gaussian noise ξ ~ N(0, σ²I) in
 * every update, θ ← θ − η(d + ξ), where d is the optimizer's direction (the gradient for plain SGD,
 * so each step is θ − η(∇L + ξ)). The noise enters the step only, never the momentum buffer or
 * Adam's moments. σ = 0 is exactly `core/gd`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { defineUnlearner, trainSgd } from '@unlearn-bench/core';
import { applyOverrides, RECIPE_OVERRIDE_PROPERTIES, type RecipeOverrides } from '../recipe.ts';

/** Options of `core/ngd`. */
export interface NgdOptions extends RecipeOverrides {
  /** Standard deviation σ of the noise added to each coordinate of each update (in gradient units, scaled by η). @default 0.01 */
  readonly sigma: number;
}

/** `core/ngd`: fine-tune on the retain set with Gaussian gradient noise, within the budget. */
export const ngdUnlearner = defineUnlearner<NgdOptions>({
  id: 'ngd',
  description: 'Noisy gradient descent: gradient descent on the retain set with Gaussian noise N(0, σ²) added to every update.',
  references: [{ title: 'Pawelczyk et al., Machine Unlearning Fails to Remove Data Poisoning Attacks, ICLR 2025', url: 'https://arxiv.org/abs/2406.17216' }],
  requires: ['parameters'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      sigma: { type: 'number', minimum: 0, default: 0.01, description: 'Standard deviation σ of the Gaussian noise ξ in each update θ ← θ − η(d + ξ) (d: the optimizer’s direction; kept out of momentum); 0 gives plain gradient descent.' },
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
        // Drawn with the ziggurat of core's RNG: tf.randomNormal took longer than the training step.
        const updateNoise = (variables: readonly tf.Variable[]): tf.NamedTensorMap =>
          Object.fromEntries(variables.map((w) => [w.name, tf.tensor(noiseRng.fastNormalArray(w.size, options.sigma), w.shape, 'float32')]));
        trainSgd(copy, retain, {
          ...applyOverrides(training, options),
          epochs: Math.ceil(maxExamples / Math.max(1, retain.count)) + 1,
          maxExamples,
          updateNoise: options.sigma === 0 ? undefined : updateNoise,
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
