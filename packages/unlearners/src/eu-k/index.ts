/**
 * `core/eu-k`: "exact unlearning of the last k layers" of Goel et al., "Towards Adversarial
 * Evaluations for Inexact Machine Unlearning" (arXiv 2201.06640): re-initialise the last k layers
 * and train only them on the retain set, within the budget; earlier layers stay bit-identical.
 */
import { defineUnlearner, trainSgd } from '@unlearn-bench/core';
import { applyOverrides, RECIPE_OVERRIDE_PROPERTIES, type RecipeOverrides } from '../recipe.ts';

/** Options of `core/eu-k`. */
export interface EuKOptions extends RecipeOverrides {
  /** Number of last layers to re-initialise and retrain. @default 1 */
  readonly k: number;
}

/** `core/eu-k`: re-initialise the last k layers and retrain them on the retain set. */
export const euKUnlearner = defineUnlearner<EuKOptions>({
  id: 'eu-k',
  description: 'EU-k: re-initialise the last k layers and train only them on the retain set until the budget is spent.',
  references: [{ title: 'Goel et al., Towards Adversarial Evaluations for Inexact Machine Unlearning, 2022', url: 'https://arxiv.org/abs/2201.06640' }],
  requires: ['parameters', 'layers'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      k: { type: 'integer', minimum: 1, default: 1, description: 'Number of last layers to re-initialise and retrain.' },
      ...RECIPE_OVERRIDE_PROPERTIES,
    },
  },
  create(options, ctx) {
    return {
      unlearn({ model, retain, training }) {
        const maxExamples = ctx.meter.remaining;
        if (!Number.isFinite(maxExamples)) throw new RangeError('core/eu-k needs a finite budget');
        checkK('core/eu-k', options.k, model.layers().map((l) => l.name));
        const copy = model.clone();
        const last = copy.layers().slice(-options.k);
        const initRng = ctx.rng.fork('reinitialize');
        for (const layer of last) layer.reinitialize(initRng);
        trainSgd(copy, retain, {
          ...applyOverrides(training, options),
          epochs: Math.ceil(maxExamples / Math.max(1, retain.count)) + 1,
          maxExamples,
          variables: last.flatMap((layer) => layer.parameters),
          rng: ctx.rng,
          meter: ctx.meter,
          logger: ctx.logger,
          label: 'eu-k',
        });
        return copy;
      },
    };
  },
});

/** Throws a readable error when the model has fewer than `k` layers. */
export function checkK(method: string, k: number, layerNames: readonly string[]): void {
  if (k > layerNames.length) {
    throw new RangeError(`${method}: options.k is ${k} but the model has ${layerNames.length} layer(s) (${layerNames.join(', ')}); set k between 1 and ${layerNames.length}`);
  }
}
