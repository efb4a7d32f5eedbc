/**
 * Compute behind each model as a fraction of retraining: examples through forward + backward
 * (value) and wall time. For an unlearner this is the budget it actually used.
 */
import { defineMetric } from '@unlearn-bench/core';

/** `core/compute`: examples used / retraining's examples (value), and the wall-time ratio. */
export const computeMetric = defineMetric<Record<string, never>>({
  id: 'compute',
  description: "Compute used to produce the model as a fraction of retraining's (examples through forward+backward; wall time in details).",
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  create() {
    return {
      compute({ cost }) {
        return {
          value: cost.examples / cost.retrainExamples,
          details: { examples: cost.examples, seconds: cost.seconds, retrainExamples: cost.retrainExamples, secondsFraction: cost.seconds / cost.retrainSeconds },
        };
      },
    };
  },
});
