/**
 * Gaussian poisoning (Pawelczyk et al., ICLR 2025, arXiv 2406.17216): pick k training points and
 * replace each input x by x + ξ, ξ ~ N(0, σ²I), keeping the label. The clean x leaves the training
 * set (it is in neither S nor P); ξ and x are recorded for the Gaussian Unlearning Score.
 */
import {
  Artifacts,
  GAUSSIAN_NOISE,
  createExamples,
  defineAttack,
  exampleSize,
  selectExamples,
  splitIndices,
} from '@unlearn-bench/core';

/** Options of `core/gaussian`. */
export interface GaussianOptions {
  /** Number of poisons k; overrides `fraction` when set. @default null */
  readonly count: number | null;
  /** Poisons as a fraction of the training set, used when `count` is null. @default 0.05 */
  readonly fraction: number;
  /** Noise standard deviation σ (inputs are in [0, 1] for image datasets). @default 1 */
  readonly sigma: number;
}

/** `core/gaussian`: Gaussian noise poisons with labels kept. */
export const gaussianAttack = defineAttack<GaussianOptions>({
  id: 'gaussian',
  description: 'Gaussian poisoning: k training inputs x become x + N(0, σ²I) with labels kept; the noise is recorded for GUS.',
  references: [{ title: 'Pawelczyk et al., Machine Unlearning Fails to Remove Data Poisoning Attacks, ICLR 2025', url: 'https://arxiv.org/abs/2406.17216' }],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      count: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Number of poisons k; overrides fraction when set.' },
      fraction: { type: 'number', exclusiveMinimum: 0, maximum: 0.5, default: 0.05, description: 'Poisons as a fraction of the training set (used when count is null).' },
      sigma: { type: 'number', exclusiveMinimum: 0, maximum: 100, default: 1, description: 'Noise standard deviation σ.' },
    },
  },
  create(options, ctx) {
    return {
      poison({ data }) {
        const train = data.train;
        const k = options.count ?? Math.round(options.fraction * train.count);
        if (k < 1 || k >= train.count) {
          throw new RangeError(`cannot make ${k} poisons from ${train.count} training points; choose count in 1..${train.count - 1}`);
        }
        const { chosen, rest } = splitIndices(train.count, k, ctx.rng.fork('points'));
        const base = selectExamples(train, chosen);
        const noise = ctx.rng.fork('noise').normalArray(base.inputs.length, options.sigma);
        const poisoned = new Float32Array(base.inputs.length);
        for (let i = 0; i < poisoned.length; i++) poisoned[i] = base.inputs[i] + noise[i];
        const artifacts = new Artifacts().set(GAUSSIAN_NOISE, {
          sigma: options.sigma,
          count: k,
          inputShape: train.inputShape,
          baseInputs: base.inputs,
          noise,
          labels: base.labels,
        });
        ctx.logger.debug(`${k} Gaussian poisons, σ = ${options.sigma}, ${exampleSize(train.inputShape)} values each`);
        return {
          clean: selectExamples(train, rest),
          poisons: createExamples(poisoned, Int32Array.from(base.labels), train.inputShape, base.texts),
          artifacts,
        };
      },
    };
  },
});
