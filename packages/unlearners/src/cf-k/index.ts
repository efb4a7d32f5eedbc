/**
 * `core/cf-k`: "catastrophic forgetting of the last k layers" of Goel et al., "Towards Adversarial
 * Evaluations for Inexact Machine Unlearning" (arXiv 2201.06640): fine-tune only the last k layers
 * on the retain set, within the budget; earlier layers stay bit-identical.
 */
import { defineUnlearner } from '@unlearn-bench/core';
import { K_PROPERTY, trainLastLayers, type LastLayersOptions } from '../last-layers.ts';
import { RECIPE_OVERRIDE_PROPERTIES } from '../recipe.ts';

/** Options of `core/cf-k`. */
export interface CfKOptions extends LastLayersOptions {
  /** Number of last layers to fine-tune; null: ⌈L/2⌉ of the model's L layers. @default null */
  readonly k: number | null;
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
      k: K_PROPERTY,
      ...RECIPE_OVERRIDE_PROPERTIES,
    },
  },
  create(options, ctx) {
    return { unlearn: (input) => trainLastLayers('cf-k', input, options, ctx, false) };
  },
});
