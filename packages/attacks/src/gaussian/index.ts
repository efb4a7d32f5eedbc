/**
 * Gaussian poisoning (Pawelczyk et al., ICLR 2025, arXiv 2406.17216): pick k training points and
 * replace each input x by x + ξ, ξ ~ N(0, σ²I), keeping the label. The clean x leaves the training
 * set (it is in neither S nor P); ξ and x are recorded for the Gaussian Unlearning Score.
 *
 * For models that read token ids (`ModelFactory.tokenInputs`, e.g. core/gpt2) x is the text's token
 * embeddings, as in the study's language-model experiments: each poison keeps its token ids and gets
 * a noise seed and σ in its row, and every model that reads the row adds ξ = `tokenNoise(seed, σ)`
 * (shape `[maxLength, dim]`) to its token embeddings. Positions after the end of a text get noise
 * too, which no output depends on (right padding under a causal mask), so it changes nothing.
 */
import {
  Artifacts,
  GAUSSIAN_NOISE,
  createExamples,
  defineAttack,
  exampleSize,
  selectExamples,
  splitIndices,
  tokenNoise,
  tokenRowSize,
  type Examples,
  type TokenInputs,
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
      poison({ data, models }) {
        const train = data.train;
        const k = options.count ?? Math.round(options.fraction * train.count);
        if (k < 1 || k >= train.count) {
          throw new RangeError(`cannot make ${k} poisons from ${train.count} training points; choose count in 1..${train.count - 1}`);
        }
        const { chosen, rest } = splitIndices(train.count, k, ctx.rng.fork('points'));
        const base = selectExamples(train, chosen);
        if (models.tokenInputs) {
          const { poisons, artifacts } = tokenPoisons(base, models.tokenInputs, options.sigma, ctx.rng.fork('noise').int(2 ** 24 - k) + 1);
          ctx.logger.debug(`${k} Gaussian poisons on token embeddings [${models.tokenInputs.embeddingShape.join(', ')}], σ = ${options.sigma}`);
          return { clean: selectExamples(train, rest), poisons, artifacts };
        }
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

/**
 * Poisons of a token model: the base rows with noise seeds `firstSeed`, `firstSeed + 1`, … and σ
 * written after their token ids, and the noise those seeds give recorded for GUS.
 */
function tokenPoisons(base: Examples, tokens: TokenInputs, sigma: number, firstSeed: number): { poisons: Examples; artifacts: Artifacts } {
  const rowSize = tokenRowSize(tokens.maxLength);
  if (exampleSize(base.inputShape) !== rowSize) {
    throw new RangeError(`token rows have ${exampleSize(base.inputShape)} values, expected maxLength ${tokens.maxLength} + 2 (noise seed, σ)`);
  }
  const noiseSize = exampleSize(tokens.embeddingShape);
  const inputs = Float32Array.from(base.inputs);
  const noise = new Float32Array(base.count * noiseSize);
  for (let i = 0; i < base.count; i++) {
    const seed = firstSeed + i;
    inputs[i * rowSize + tokens.maxLength] = seed;
    inputs[i * rowSize + tokens.maxLength + 1] = sigma;
    noise.set(tokenNoise(seed, sigma, noiseSize), i * noiseSize);
  }
  const artifacts = new Artifacts().set(GAUSSIAN_NOISE, {
    sigma: Math.fround(sigma),
    count: base.count,
    inputShape: base.inputShape,
    noiseShape: tokens.embeddingShape,
    baseInputs: base.inputs,
    noise,
    labels: base.labels,
  });
  return { poisons: createExamples(inputs, Int32Array.from(base.labels), base.inputShape, base.texts), artifacts };
}
