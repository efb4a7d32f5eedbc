/**
 * `core/cf-k`: "catastrophic forgetting of the last k layers" of Goel et al., "Towards Adversarial
 * Evaluations for Inexact Machine Unlearning" (arXiv 2201.06640): fine-tune only the last k layers
 * on the retain set, within the budget; earlier layers stay bit-identical.
 */
import { defineUnlearner, trainSgd } from '@unlearn-bench/core';
import { applyOverrides, RECIPE_OVERRIDE_PROPERTIES, type RecipeOverrides } from '../recipe.ts';
import { checkK } from '../eu-k/index.ts';

/** Options of `core/cf-k`. */
export interface CfKOptions extends RecipeOverrides {
  /** Number of last layers to fine-tune. @default 1 */
  readonly k: number;
}

/** `core/cf-k`: fine-tune only the last k layers on the retain set. */
export const cfKUnlearner = defineUnlearner<CfKOptions>({
  id: 'cf-k',
  description: 'CF-k: fine-tune only the last k layers on the retain set until the budget is spent.',
  references: [{ title: 'Goel et al., Towards Adversarial Evaluations for Inexact Machine Unlearning, 2022', url: 'https://arxiv.org/abs/2201.06640' }],
  requires: ['parameters', 'layers'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      k: { type: 'integer', minimum: 1, default: 1, description: 'Number of last layers to fine-tune.' },
      ...RECIPE_OVERRIDE_PROPERTIES,
    },
  },
  create(options, ctx) {
    return {
      unlearn({ model, retain, training }) {
        const maxExamples = ctx.meter.remaining;
        if (!Number.isFinite(maxExamples)) throw new RangeError('core/cf-k needs a finite budget');
        checkK('core/cf-k', options.k, model.layers().map((l) => l.name));
        const copy = model.clone();
        const last = copy.layers().slice(-options.k);
        trainSgd(copy, retain, {
          ...applyOverrides(training, options),
          epochs: Math.ceil(maxExamples / Math.max(1, retain.count)) + 1,
          maxExamples,
          variables: last.flatMap((layer) => layer.parameters),
          rng: ctx.rng,
          meter: ctx.meter,
          logger: ctx.logger,
          label: 'cf-k',
        });
        return copy;
      },
    };
  },
});
