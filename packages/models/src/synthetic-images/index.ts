/**
 * `synthetic-images`: a learnable stand-in for an image dataset. Each class has a fixed prototype
 * with pixels uniform in [0, 1]; an example is its class prototype plus N(0, noise²) per pixel.
 * Labels cycle through the classes, so every class has the same count (±1). Prototypes, training
 * and test examples come from separate forks of `seed`, so changing one size leaves the rest.
 */
import { createExamples, createRng, defineDataset, exampleSize, type Examples, type Rng } from '@unlearn-bench/core';

/** Options of `synthetic-images`. */
export interface SyntheticImagesOptions {
  /** Shape of one example. @default [28, 28, 1] */
  readonly shape: readonly number[];
  /** Number of classes. @default 10 */
  readonly numClasses: number;
  /** Training examples. @default 2000 */
  readonly trainSize: number;
  /** Test examples. @default 500 */
  readonly testSize: number;
  /** Standard deviation of the per-pixel noise around the prototypes. @default 1 */
  readonly noise: number;
  /** Seed of prototypes and examples (independent of the experiment seed). @default 0 */
  readonly seed: number;
}

function sample(prototypes: readonly Float32Array[], count: number, options: SyntheticImagesOptions, rng: Rng): Examples {
  const size = exampleSize(options.shape);
  const inputs = rng.normalArray(count * size, options.noise);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % options.numClasses;
    const prototype = prototypes[labels[i]];
    for (let j = 0; j < size; j++) inputs[i * size + j] += prototype[j];
  }
  return createExamples(inputs, labels, options.shape);
}

/** `synthetic-images`: noisy copies of one random prototype per class. */
export const syntheticImagesDataset = defineDataset<SyntheticImagesOptions>({
  id: 'synthetic-images',
  description: 'Synthetic images: each example is its class’s fixed random prototype plus Gaussian noise.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      shape: {
        type: 'array',
        items: { type: 'integer', minimum: 1, maximum: 4096 },
        minItems: 1,
        maxItems: 4,
        default: [28, 28, 1],
        description: 'Shape of one example, e.g. [28, 28, 1] or [32, 32, 3].',
      },
      numClasses: { type: 'integer', minimum: 2, maximum: 1000, default: 10, description: 'Number of classes.' },
      trainSize: { type: 'integer', minimum: 1, maximum: 1000000, default: 2000, description: 'Training examples.' },
      testSize: { type: 'integer', minimum: 1, maximum: 1000000, default: 500, description: 'Test examples.' },
      noise: { type: 'number', minimum: 0, maximum: 100, default: 1, description: 'Standard deviation of the per-pixel Gaussian noise around the prototypes.' },
      seed: { type: 'integer', minimum: 0, maximum: 4294967295, default: 0, description: 'Seed of prototypes and examples (independent of the experiment seed).' },
    },
  },
  size: (options) => ({ train: options.trainSize, test: options.testSize }), // generated: no limit
  create(options) {
    return {
      load() {
        const rng = createRng(options.seed);
        const prototypeRng = rng.fork('prototypes');
        const size = exampleSize(options.shape);
        const prototypes = Array.from({ length: options.numClasses }, () => Float32Array.from({ length: size }, () => prototypeRng.next()));
        return {
          name: 'synthetic-images',
          train: sample(prototypes, options.trainSize, options, rng.fork('train')),
          test: sample(prototypes, options.testSize, options, rng.fork('test')),
          numClasses: options.numClasses,
        };
      },
    };
  },
});
