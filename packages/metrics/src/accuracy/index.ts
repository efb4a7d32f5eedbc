/** `core/accuracy`: fraction of the clean test set classified correctly. */
import { accuracy, defineMetric } from '@unlearn-bench/core';

/** Options of `core/accuracy`. */
export interface AccuracyOptions {
  /** Examples per forward batch. @default 512 */
  readonly batchSize: number;
}

/** `core/accuracy`: clean test accuracy. */
export const accuracyMetric = defineMetric<AccuracyOptions>({
  id: 'accuracy',
  description: 'Accuracy on the clean test set.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      batchSize: { type: 'integer', minimum: 1, default: 512, description: 'Examples per forward batch.' },
    },
  },
  create(options) {
    return {
      compute({ model, data }) {
        return { value: accuracy(model, data.test, options.batchSize), details: { examples: data.test.count } };
      },
    };
  },
});
