/**
 * `core/retrain`: exact unlearning, the gold standard. Trains a fresh model on the retain set with
 * the experiment's recipe. In a run, the cell's retrained model (same seed, same initial weights as
 * the poisoned model) is exactly this, so the runner reuses it instead of training again.
 */
import { defineUnlearner, trainSgd } from '@unlearn-bench/core';

/** `core/retrain`: retrain from scratch on the retain set. */
export const retrainUnlearner = defineUnlearner<Record<string, never>>({
  id: 'retrain',
  description: 'Exact unlearning: retrain from scratch on the retain set with the same recipe (reference row "retrain").',
  reference: 'retrained',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  create(_options, ctx) {
    return {
      unlearn({ retain, training, models }) {
        const model = models.build(ctx.rng.fork('model-init'));
        trainSgd(model, retain, { ...training, rng: ctx.rng.fork('train-order'), meter: ctx.meter, logger: ctx.logger, label: 'retrain' });
        return model;
      },
    };
  },
});
