/**
 * `core/clean-subset`: the control "attack" that poisons nothing. It picks k random training points
 * and hands them, unchanged, to the runner as the forget set, so the "poisoned" model is trained on
 * all the data and the retrained model without those k clean points. Against a real attack with
 * the same k it answers the study's first explanation (Pawelczyk et al., ICLR 2025): do poisons
 * move the parameters further than the same number of clean points (core/param-distance)?
 */
import { Artifacts, defineAttack, selectExamples, splitIndices } from '@unlearn-bench/core';

/** Options of `core/clean-subset`. */
export interface CleanSubsetOptions {
  /** Number of points to forget; overrides `fraction` when set. @default null */
  readonly count: number | null;
  /** Points to forget as a fraction of the training set, used when `count` is null. @default 0.05 */
  readonly fraction: number;
}

/** `core/clean-subset`: forget k random clean training points (no poison; a control). */
export const cleanSubsetAttack = defineAttack<CleanSubsetOptions>({
  id: 'clean-subset',
  description: 'Control without poison: k random clean training points become the forget set, unchanged.',
  references: [{ title: 'Pawelczyk et al., Machine Unlearning Fails to Remove Data Poisoning Attacks, ICLR 2025', url: 'https://arxiv.org/abs/2406.17216' }],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      count: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Number of points to forget; overrides fraction when set.' },
      fraction: { type: 'number', exclusiveMinimum: 0, maximum: 0.5, default: 0.05, description: 'Points to forget as a fraction of the training set (used when count is null).' },
    },
  },
  create(options, ctx) {
    return {
      poison({ data }) {
        const k = options.count ?? Math.round(options.fraction * data.train.count);
        if (k < 1 || k >= data.train.count) throw new RangeError(`cannot pick ${k} of ${data.train.count} training points; choose count in 1..${data.train.count - 1}`);
        const { chosen, rest } = splitIndices(data.train.count, k, ctx.rng);
        return { clean: selectExamples(data.train, rest), poisons: selectExamples(data.train, chosen), artifacts: new Artifacts() };
      },
    };
  },
});
