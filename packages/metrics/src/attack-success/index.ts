/**
 * Backdoor attack success rate (BadNets, Gu et al. 2017, arXiv 1708.06733): stamp the recorded
 * trigger on every test image whose true class is not the target and report the fraction the model
 * classifies as the target. A model that never saw the trigger gives the base rate of that class.
 * Text backdoors (`core/trigger-phrase`) record their triggered test texts instead (`core/triggered-test`).
 */
import { BACKDOOR_TRIGGER, TRIGGERED_TEST, createExamples, defineMetric, hasNonFinitePrediction, predictClasses, selectExamples, stampTrigger, type Artifacts, type Examples, type MetricResult, type TriggeredTestRecord } from '@unlearn-bench/core';

/** The non-target test examples with and without the trigger: stamped from a patch, recorded by a text attack, or undefined (no backdoor). */
function triggeredSets(test: Examples, artifacts: Artifacts): TriggeredTestRecord | undefined {
  const recorded = artifacts.get(TRIGGERED_TEST);
  if (recorded) return recorded;
  const trigger = artifacts.get(BACKDOOR_TRIGGER);
  if (!trigger) return undefined;
  const untriggered = selectExamples(test, Array.from(test.labels.keys()).filter((i) => test.labels[i] !== trigger.target));
  const triggered = createExamples(stampTrigger(untriggered.inputs, trigger), untriggered.labels, test.inputShape);
  return { target: trigger.target, triggered, untriggered };
}

/** Options of `core/attack-success`. */
export interface AttackSuccessOptions {
  /** Examples per forward batch. @default 512 */
  readonly batchSize: number;
}

/** `core/attack-success`: fraction of triggered non-target test images classified as the target. */
export const attackSuccessMetric = defineMetric<AttackSuccessOptions>({
  id: 'attack-success',
  description: 'Backdoor attack success: fraction of triggered test images (true class ≠ target) classified as the target class.',
  references: [{ title: 'Gu, Dolan-Gavitt, Garg, BadNets, 2017', url: 'https://arxiv.org/abs/1708.06733' }],
  results: {
    // 2 points of backdoor success: the retrained model's rate is near 0 (0.005 on MNIST), so 2 points
    // is what a clean model's misclassifications of triggered inputs into the target class give.
    '': { margin: 0.02, range: [0, 1] },
  },
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      batchSize: { type: 'integer', minimum: 1, default: 512, description: 'Examples per forward batch.' },
    },
  },
  create(options, ctx) {
    let warned = false;
    return {
      compute({ model, data, artifacts }): MetricResult {
        const sets = triggeredSets(data.test, artifacts);
        if (!sets) {
          // Another attack in the same manifest (e.g. core/gaussian beside a backdoor): no trigger to test.
          if (!warned) ctx.logger.warn('core/attack-success needs a backdoor (core/backdoor-patch or core/trigger-phrase); this attack left no trigger, so attack success is reported as n/a here.');
          warned = true;
          return { value: Number.NaN, details: { applicable: false } };
        }
        const count = sets.triggered.count;
        const predicted = predictClasses(model, sets.triggered, options.batchSize);
        const cleanPredicted = predictClasses(model, sets.untriggered, options.batchSize);
        if (hasNonFinitePrediction(predicted) || hasNonFinitePrediction(cleanPredicted)) return { value: Number.NaN, details: { nonFinite: true } };
        let hits = 0;
        let cleanHits = 0;
        for (let i = 0; i < count; i++) {
          if (predicted[i] === sets.target) hits++;
          if (cleanPredicted[i] === sets.target) cleanHits++;
        }
        return {
          value: count > 0 ? hits / count : Number.NaN,
          details: { examples: count, target: sets.target, untriggeredRate: count > 0 ? cleanHits / count : Number.NaN },
        };
      },
    };
  },
});
