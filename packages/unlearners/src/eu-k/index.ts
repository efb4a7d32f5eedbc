/**
 * `core/eu-k`: "exact unlearning of the last k layers" of Goel et al., "Towards Adversarial
 * Evaluations for Inexact Machine Unlearning" (arXiv 2201.06640): re-initialise the last k layers
 * and train only them on the retain set, within the budget; earlier layers stay bit-identical.
 */
import { defineUnlearner } from '@unlearn-bench/core';
import { K_PROPERTY, trainLastLayers, type LastLayersOptions } from '../last-layers.ts';
import { RECIPE_OVERRIDE_PROPERTIES } from '../recipe.ts';

/** Options of `core/eu-k`. */
export interface EuKOptions extends LastLayersOptions {
  /** Number of last layers to re-initialise and retrain; null: ⌈L/2⌉ of the model's L layers. @default null */
  readonly k: number | null;
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
      k: K_PROPERTY,
      ...RECIPE_OVERRIDE_PROPERTIES,
    },
  },
  create(options, ctx) {
    return { unlearn: (input) => trainLastLayers('eu-k', input, options, ctx, true) };
  },
});
