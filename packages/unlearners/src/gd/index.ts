/**
 * `core/gd`: gradient descent on the retain set ("fine-tuning"), one of the baselines of
 * Pawelczyk et al. (ICLR 2025, arXiv 2406.17216). Runs SGD on the retain set until the budget is
 * spent; hyper-parameters default to the experiment's training recipe.
 */
import { defineUnlearner, trainSgd } from '@unlearn-bench/core';
import { applyOverrides, RECIPE_OVERRIDE_PROPERTIES, type RecipeOverrides } from '../recipe.ts';

/** Options of `core/gd`: only the recipe overrides. */
export type GdOptions = RecipeOverrides;

/** `core/gd`: fine-tune on the retain set within the budget. */
export const gdUnlearner = defineUnlearner<GdOptions>({
  id: 'gd',
  description: 'Gradient descent: keep training the poisoned model on the retain set until the budget is spent.',
  references: [{ title: 'Pawelczyk et al., Machine Unlearning Fails to Remove Data Poisoning Attacks, ICLR 2025', url: 'https://arxiv.org/abs/2406.17216' }],
  requires: ['parameters'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { ...RECIPE_OVERRIDE_PROPERTIES },
  },
  create(options, ctx) {
    return {
      unlearn({ model, retain, training }) {
        const copy = model.clone();
        const maxExamples = ctx.meter.remaining;
        if (!Number.isFinite(maxExamples)) throw new RangeError('core/gd needs a finite budget');
        trainSgd(copy, retain, {
          ...applyOverrides(training, options),
          epochs: Math.ceil(maxExamples / Math.max(1, retain.count)) + 1,
          maxExamples,
          rng: ctx.rng,
          meter: ctx.meter,
          logger: ctx.logger,
          label: 'gd',
        });
        return copy;
      },
    };
  },
});
