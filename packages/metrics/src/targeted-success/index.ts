/**
 * Targeted poisoning success (Witches' Brew, Geiping et al. 2021, arXiv 2009.02276): the fraction
 * of recorded targets the model classifies as their adversarial label.
 */
import { TARGETED_POISON, createExamples, defineMetric, hasNonFinitePrediction, predictClasses, type MetricResult } from '@unlearn-bench/core';

/** `core/targeted-success`: fraction of targets classified as the adversarial label. */
export const targetedSuccessMetric = defineMetric<Record<string, never>>({
  id: 'targeted-success',
  description: "Targeted poisoning success: fraction of the attack's targets classified as their adversarial label.",
  references: [{ title: "Geiping et al., Witches' Brew: Industrial Scale Data Poisoning via Gradient Matching, ICLR 2021", url: 'https://arxiv.org/abs/2009.02276' }],
  results: {
    // One target flipped in ten: with one target per seed the per-seed value is 0 or 1, so a smaller
    // margin cannot be shown with the 8 seeds the study uses.
    '': { margin: 0.1, range: [0, 1] },
  },
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  create() {
    return {
      compute({ model, artifacts }): MetricResult {
        const record = artifacts.get(TARGETED_POISON);
        if (!record) throw new Error('core/targeted-success needs targets: use a targeted attack such as core/witches-brew (no core/targeted-poison record was found).');
        const targets = createExamples(record.targetInputs, record.trueLabels, record.inputShape);
        const predicted = predictClasses(model, targets);
        if (hasNonFinitePrediction(predicted)) return { value: Number.NaN, details: { nonFinite: true } };
        let hits = 0;
        let correct = 0;
        for (let i = 0; i < targets.count; i++) {
          if (predicted[i] === record.adversarialLabels[i]) hits++;
          if (predicted[i] === record.trueLabels[i]) correct++;
        }
        return { value: hits / targets.count, details: { targets: targets.count, stillCorrect: correct / targets.count } };
      },
    };
  },
});
