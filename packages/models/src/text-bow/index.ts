/**
 * `text-bow`: a hashing bag-of-words (or n-gram) text classifier, fully offline. Texts are split
 * into word tokens, each n-gram is hashed into one of `dimension` buckets (the hashing trick,
 * Weinberger et al. 2009, arXiv 0902.2206), counts are weighted and L2-normalised, and a TF.js MLP
 * head (`hidden: []` for softmax regression) is trained on the vectors.
 */
import { defineModel, hashString, type Featurizer } from '@unlearn-bench/core';
import { MODEL_CAPABILITIES } from '../layers.ts';
import { mlpModel } from '../mlp/index.ts';

/** Options of `text-bow`. */
export interface TextBowOptions {
  /** Number of hash buckets (feature vector length). @default 2048 */
  readonly dimension: number;
  /** Longest n-gram: 1 = words only, 2 = words and word pairs, … @default 1 */
  readonly ngrams: number;
  /** Lowercase texts before tokenising. @default true */
  readonly lowercase: boolean;
  /** Per-bucket value: raw `count`, `binary` presence, or `log1p(count)`. @default "log1p" */
  readonly weighting: 'count' | 'binary' | 'log1p';
  /** Scale every vector to unit L2 norm. @default true */
  readonly normalize: boolean;
  /** Only the first `maxTokens` tokens of a text are used (0: all). @default 0 */
  readonly maxTokens: number;
  /** Widths of the head's hidden layers; [] gives softmax regression. @default [64] */
  readonly hidden: readonly number[];
}

const TOKEN = /[\p{L}\p{N}]+(?:'[\p{L}]+)?/gu;

/** Word tokens of `text` (letters and digits, with an optional apostrophe suffix). */
export function tokenize(text: string, lowercase: boolean): string[] {
  return (lowercase ? text.toLowerCase() : text).match(TOKEN) ?? [];
}

/** The hashing vectoriser of `text-bow` (exported for tests and for other text models). */
export function createHashingFeaturizer(options: Omit<TextBowOptions, 'hidden'>): Featurizer {
  const { dimension, ngrams, lowercase, weighting, normalize, maxTokens } = options;
  return {
    featureShape: [dimension],
    featurize(texts) {
      const out = new Float32Array(texts.length * dimension);
      texts.forEach((text, row) => {
        const all = tokenize(text, lowercase);
        const tokens = maxTokens > 0 ? all.slice(0, maxTokens) : all;
        const vector = out.subarray(row * dimension, (row + 1) * dimension);
        for (let n = 1; n <= ngrams; n++) {
          for (let i = 0; i + n <= tokens.length; i++) {
            // n-grams of different n never share a key: the key carries n.
            vector[hashString(`${n}\u0001${tokens.slice(i, i + n).join('\u0001')}`) % dimension] += 1;
          }
        }
        let norm = 0;
        for (let j = 0; j < dimension; j++) {
          const count = vector[j];
          if (count === 0) continue;
          const value = weighting === 'binary' ? 1 : weighting === 'log1p' ? Math.log1p(count) : count;
          vector[j] = value;
          norm += value * value;
        }
        if (normalize && norm > 0) {
          const scale = 1 / Math.sqrt(norm);
          for (let j = 0; j < dimension; j++) vector[j] *= scale;
        }
      });
      return out;
    },
  };
}

/** `text-bow`: hashed bag-of-words / n-gram features and a trainable MLP head. */
export const textBowModel = defineModel<TextBowOptions>({
  id: 'text-bow',
  description: 'Hashing bag-of-words / n-gram text features (offline, no model download) with a trainable MLP or linear head.',
  references: [{ title: 'Weinberger et al., Feature Hashing for Large Scale Multitask Learning, 2009', url: 'https://arxiv.org/abs/0902.2206' }],
  capabilities: MODEL_CAPABILITIES,
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      dimension: { type: 'integer', minimum: 2, maximum: 1048576, default: 2048, description: 'Number of hash buckets (feature vector length).' },
      ngrams: { type: 'integer', minimum: 1, maximum: 5, default: 1, description: 'Longest word n-gram hashed: 1 = words only, 2 = words and word pairs, ….' },
      lowercase: { type: 'boolean', default: true, description: 'Lowercase texts before tokenising.' },
      weighting: { enum: ['count', 'binary', 'log1p'], default: 'log1p', description: 'Value of a bucket: raw count, binary presence, or log(1 + count).' },
      normalize: { type: 'boolean', default: true, description: 'Scale every feature vector to unit L2 norm.' },
      maxTokens: { type: 'integer', minimum: 0, default: 0, description: 'Use only the first maxTokens word tokens of a text (0: all).' },
      hidden: {
        type: 'array',
        items: { type: 'integer', minimum: 1, maximum: 16384 },
        maxItems: 8,
        default: [64],
        description: "Widths of the head's hidden layers (dense + ReLU); [] gives softmax regression.",
      },
    },
  },
  createFeaturizer: ({ dimension, ngrams, lowercase, weighting, normalize, maxTokens }) =>
    createHashingFeaturizer({ dimension, ngrams, lowercase, weighting, normalize, maxTokens }),
  create: (options, shape, ctx) => mlpModel.create({ hidden: options.hidden }, shape, ctx),
});
