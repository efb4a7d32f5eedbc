/**
 * `core/retrain-replica`: a second exact unlearning, retrained from scratch on the retain set with
 * the experiment's recipe but its own initial weights and data order. It is not an unlearning
 * method: it shows what seed noise alone gives on every metric (an empirical null), and it checks
 * the verdicts' calibration — a replica of retraining must come out `equivalent` or
 * `inconclusive`, and `different` no more often than the tests' nominal rate. Unbudgeted like
 * `core/retrain` (one row per seed × attack, budget `-`); its cost is a full retraining.
 */
import { defineUnlearner, trainSgd } from '@unlearn-bench/core';

/** `core/retrain-replica`: retrain on the retain set from an independent initialisation and order. */
export const retrainReplicaUnlearner = defineUnlearner<Record<string, never>>({
  id: 'retrain-replica',
  description: 'A replica of exact unlearning: retrains on the retain set with the same recipe from independent initial weights and data order (an empirical null for the verdicts; unbudgeted).',
  budget: 'unlimited',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  create(_options, ctx) {
    return {
      unlearn({ retain, training, models }) {
        // ctx.rng is this cell's own stream, independent of the one the runner draws the
        // retrained model's initial weights and data order from.
        const model = models.build(ctx.rng.fork('replica-init'));
        try {
          trainSgd(model, retain, { ...training, rng: ctx.rng.fork('replica-order'), meter: ctx.meter, logger: ctx.logger, label: 'retrain replica' });
        } catch (error) {
          model.dispose();
          throw error;
        }
        return model;
      },
    };
  },
});
