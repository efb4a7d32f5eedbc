/**
 * Distance in parameter space from a model to the cell's retrained and poisoned models, ℓ1 and ℓ2
 * over all trainable parameters (batch-norm running statistics and other buffers are state, not
 * parameters, and are left out, as PyTorch's `model.parameters()` leaves them out). Pawelczyk et al. (ICLR 2025) explain part of the unlearning failure by
 * poisons moving the parameters further than clean points: an unlearner that stays near the
 * poisoned model has not travelled the distance to a retrained one.
 */
import { defineMetric, type ClassifierModel } from '@unlearn-bench/core';

/** ℓ1 and ℓ2 distances between two models' trainable parameter vectors (buffers left out). */
export function parameterDistance(a: ClassifierModel, b: ClassifierModel): { l1: number; l2: number } {
  // getWeights() lists the parameters first, then any buffers.
  const wa = a.getWeights().slice(0, a.parameters().length);
  const wb = b.getWeights().slice(0, b.parameters().length);
  if (wa.length !== wb.length || wa.some((w, i) => w.length !== wb[i].length)) {
    throw new Error('the models have different parameter shapes');
  }
  let l1 = 0;
  let squares = 0;
  wa.forEach((w, i) => {
    const v = wb[i];
    for (let j = 0; j < w.length; j++) {
      const d = w[j] - v[j];
      l1 += Math.abs(d);
      squares += d * d;
    }
  });
  // Weights that overflowed (a diverged model) have no distance worth averaging.
  if (!Number.isFinite(squares) || !Number.isFinite(l1)) return { l1: Number.NaN, l2: Number.NaN };
  return { l1, l2: Math.sqrt(squares) };
}

/** `core/param-distance`: ℓ2 to the retrained model (value), and ℓ1 / ℓ2 to retrained and poisoned. */
export const paramDistanceMetric = defineMetric<Record<string, never>>({
  id: 'param-distance',
  description: 'Parameter-space distance to the retrained model (ℓ2, value) and ℓ1/ℓ2 to the retrained and poisoned models.',
  requires: ['parameters'],
  references: [{ title: 'Pawelczyk et al., Machine Unlearning Fails to Remove Data Poisoning Attacks, ICLR 2025', url: 'https://arxiv.org/abs/2406.17216' }],
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  create() {
    return {
      compute({ model, references }) {
        const toRetrained = parameterDistance(model, references.retrained);
        const toPoisoned = parameterDistance(model, references.poisoned);
        return [
          { value: toRetrained.l2, details: { l1: toRetrained.l1 } },
          { name: 'l1-retrained', value: toRetrained.l1 },
          { name: 'l2-poisoned', value: toPoisoned.l2 },
          { name: 'l1-poisoned', value: toPoisoned.l1 },
        ];
      },
    };
  },
});
