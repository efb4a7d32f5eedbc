/**
 * `core/ga`: gradient ascent on the forget set, a baseline of Pawelczyk et al. (ICLR 2025,
 * arXiv 2406.17216) and of the unlearning literature before it: SGD that maximises the
 * cross-entropy of the forget set, for as many passes over it as the budget allows. One optimizer
 * serves every pass, so momentum (and any schedule) carries from pass to pass, as in a single
 * multi-epoch run; a pass that overflows the weights is undone and ends the run.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createOptimizer, crossEntropy, defineUnlearner, plannedSteps, trainSgd, type ClassifierModel } from '@unlearn-bench/core';
import { applyOverrides, RECIPE_OVERRIDE_PROPERTIES, type RecipeOverrides } from '../recipe.ts';

/** Options of `core/ga`. */
export interface GaOptions extends RecipeOverrides {
}

const negativeCrossEntropy = (m: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D): tf.Scalar => tf.tidy(() => tf.neg(crossEntropy(m.logits(x), y)));

/** `core/ga`: gradient ascent on the forget set within the budget. */
export const gaUnlearner = defineUnlearner<GaOptions>({
  id: 'ga',
  description: 'Gradient ascent: maximise the loss on the forget set until the budget is spent.',
  references: [{ title: 'Pawelczyk et al., Machine Unlearning Fails to Remove Data Poisoning Attacks, ICLR 2025', url: 'https://arxiv.org/abs/2406.17216' }],
  requires: ['parameters'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...RECIPE_OVERRIDE_PROPERTIES,
    },
  },
  create(options, ctx) {
    return {
      unlearn({ model, forget, training }) {
        const maxExamples = ctx.meter.remaining;
        if (!Number.isFinite(maxExamples)) throw new RangeError('core/ga needs a finite budget');
        const copy = model.clone();
        if (forget.count === 0) return copy;
        // One pass over the forget set at a time: ascent on an unbounded loss can overflow, and a
        // pass that leaves non-finite weights is undone and ends the run.
        const recipe = {
          ...applyOverrides(training, options),
          epochs: 1,
        };
        const optimizer = createOptimizer(recipe, copy.parameters(), {
          stepsPerEpoch: Math.ceil(forget.count / recipe.batchSize),
          totalSteps: plannedSteps(forget.count, recipe.batchSize, Number.POSITIVE_INFINITY, maxExamples),
        });
        let pass = 0;
        try {
          while (ctx.meter.remaining > 0) {
            const before = copy.getWeights();
            trainSgd(copy, forget, { ...recipe, maxExamples: Math.min(forget.count, ctx.meter.remaining), loss: negativeCrossEntropy, rng: ctx.rng, meter: ctx.meter, logger: ctx.logger, label: `ga pass ${++pass}`, sharedOptimizer: optimizer });
            if (!copy.getWeights().every((w) => w.every(Number.isFinite))) {
              copy.setWeights(before);
              ctx.logger.warn(`core/ga: weights overflowed in pass ${pass} over the forget set; returning the weights after pass ${pass - 1} (${ctx.meter.used} budget examples spent)`);
              break;
            }
          }
        } finally {
          optimizer.dispose();
        }
        return copy;
      },
    };
  },
});
