/**
 * `core/accuracy`: fraction of the clean test set classified correctly, and `accuracy:drop`, the
 * retrained model's accuracy minus this model's. The retrained model is trained on the clean set S
 * alone with the same recipe and seed, so it is the clean-training baseline the indiscriminate
 * attacks are measured against (Lu et al. 2023; Pawelczyk et al. 2025): the poisoned row shows the
 * attack's damage, an unlearned row what is left of it, the retrained row 0.
 */
import { accuracy, defineMetric, type ClassifierModel, type Examples, type MetricResult } from '@unlearn-bench/core';

/** Options of `core/accuracy`. */
export interface AccuracyOptions {
  /** Examples per forward batch. @default 512 */
  readonly batchSize: number;
}

/** `core/accuracy`: clean test accuracy and its drop against the retrained (clean-training) model. */
export const accuracyMetric = defineMetric<AccuracyOptions>({
  id: 'accuracy',
  description: "Accuracy on the clean test set, accuracy:drop = the retrained model's accuracy − this model's, and accuracy:validation on the dataset's validation split when it has one.",
  results: {
    // 1 point of test accuracy: the accuracy cost the study and the selection rules of this project
    // accept as "utility kept" (maxAccuracyDrop 0.01); seed-to-seed spread here is 0.1–0.5 points.
    '': { margin: 0.01, range: [0, 1] },
    // accuracy:drop is accuracy's paired difference from retraining itself, so it gets no verdict
    // of its own (judging it again would count the same test twice).
    drop: { range: [-1, 1] },
    // Accuracy on the dataset's validation split (when it has one): what selection rules read, so
    // that choosing among a sweep's variants never looks at the test set. No verdict of its own.
    validation: { range: [0, 1] },
  },
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      batchSize: { type: 'integer', minimum: 1, default: 512, description: 'Examples per forward batch.' },
    },
  },
  create(options) {
    // The retrained model is the same for every model of a group: measure it once.
    const measured = new WeakMap<ClassifierModel, number>();
    const retrainedAccuracy = (model: ClassifierModel, test: Examples) => {
      let value = measured.get(model);
      if (value === undefined) measured.set(model, (value = accuracy(model, test, options.batchSize)));
      return value;
    };
    return {
      compute({ model, data, references }) {
        const value = accuracy(model, data.test, options.batchSize);
        const baseline = retrainedAccuracy(references.retrained, data.test);
        const results: MetricResult[] = [
          { value, details: { examples: data.test.count } },
          { name: 'drop', value: baseline - value, details: { retrainedAccuracy: baseline } },
        ];
        if (data.validation && data.validation.count > 0) results.push({ name: 'validation', value: accuracy(model, data.validation, options.batchSize), details: { examples: data.validation.count } });
        return results;
      },
    };
  },
});
