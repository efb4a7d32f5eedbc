import { GAUSSIAN_NOISE, TOKEN_PADDING, createExamples, tokenNoise, tokenRowSize, type DatasetSplit, type ModelFactory, type TokenInputs } from '@unlearn-bench/core';
import { blobsDataset, createTestContext } from '@unlearn-bench/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { gaussianAttack } from './index.ts';

let data: DatasetSplit;
/** A factory that only describes its models (the attack never builds one). */
const factory = (tokenInputs?: TokenInputs): ModelFactory => ({
  build: () => {
    throw new Error('core/gaussian should not build a model');
  },
  ...(tokenInputs ? { tokenInputs } : {}),
});
const poison = (options: { count: number | null; fraction: number; sigma: number }, seed = 1, split = data, tokenInputs?: TokenInputs) =>
  gaussianAttack.create(options, createTestContext(seed)).poison({ data: split, models: factory(tokenInputs), training: undefined as never });

beforeAll(async () => {
  data = await blobsDataset.create({ trainSize: 1000, testSize: 10, dimension: 20, separation: 3 }, createTestContext(0)).load();
});

const rows = (inputs: Float32Array, d: number) => Array.from({ length: inputs.length / d }, (_, i) => Array.from(inputs.subarray(i * d, (i + 1) * d)).join(','));

describe('core/gaussian', () => {
  it('turns k base points into x + ξ with labels kept and removes the base points from the clean set', async () => {
    const result = await poison({ count: 50, fraction: 0.05, sigma: 0.7 });
    const record = result.artifacts.get(GAUSSIAN_NOISE)!;
    expect(result.poisons.count).toBe(50);
    expect(result.clean.count).toBe(950);
    expect(record.count).toBe(50);
    expect([...result.poisons.labels]).toEqual([...record.labels]);
    for (let i = 0; i < record.noise.length; i++) expect(result.poisons.inputs[i]).toBeCloseTo(record.baseInputs[i] + record.noise[i], 5);
    // clean ∪ base = the training set, as multisets of (input, label) rows.
    const all = rows(data.train.inputs, 20).map((r, i) => `${r}|${data.train.labels[i]}`).sort();
    const split = [...rows(result.clean.inputs, 20).map((r, i) => `${r}|${result.clean.labels[i]}`), ...rows(record.baseInputs, 20).map((r, i) => `${r}|${record.labels[i]}`)].sort();
    expect(split).toEqual(all);
  });

  it('draws noise with standard deviation σ', async () => {
    const { noise } = (await poison({ count: 200, fraction: 0.05, sigma: 2 })).artifacts.get(GAUSSIAN_NOISE)!;
    const mean = noise.reduce((a, b) => a + b, 0) / noise.length;
    const sd = Math.sqrt(noise.reduce((a, b) => a + (b - mean) ** 2, 0) / noise.length);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(sd).toBeGreaterThan(1.95);
    expect(sd).toBeLessThan(2.05);
  });

  it('uses the fraction when count is null, and repeats exactly per seed', async () => {
    expect((await poison({ count: null, fraction: 0.1, sigma: 1 })).poisons.count).toBe(100);
    const a = await poison({ count: 20, fraction: 0.1, sigma: 1 }, 3);
    const b = await poison({ count: 20, fraction: 0.1, sigma: 1 }, 3);
    const c = await poison({ count: 20, fraction: 0.1, sigma: 1 }, 4);
    expect(b.poisons.inputs).toEqual(a.poisons.inputs);
    expect(c.poisons.inputs).not.toEqual(a.poisons.inputs);
  });

  it('rejects a poison count the training set cannot supply', async () => {
    await expect(async () => poison({ count: 1000, fraction: 0.1, sigma: 1 })).rejects.toThrow('cannot make 1000 poisons from 1000 training points; choose count in 1..999');
  });

  it('on a token model keeps the token ids, writes distinct noise seeds and σ into the rows, and records tokenNoise of the embeddings shape', async () => {
    const maxLength = 6;
    const tokens: TokenInputs = { maxLength, vocabSize: 50, embeddingShape: [maxLength, 4] };
    const size = tokenRowSize(maxLength);
    const rowsOf = Float32Array.from({ length: 40 * size }, (_, i) => {
      const t = i % size;
      return t < 1 + (Math.floor(i / size) % maxLength) ? (i * 7) % 50 : t < maxLength ? TOKEN_PADDING : 0;
    });
    const train = createExamples(rowsOf, Int32Array.from({ length: 40 }, (_, i) => i % 2), [size]);
    const result = await poison({ count: 10, fraction: 0.05, sigma: 0.5 }, 1, { ...data, train }, tokens);
    const record = result.artifacts.get(GAUSSIAN_NOISE)!;
    expect(record.noiseShape).toEqual([maxLength, 4]);
    expect(record.noise).toHaveLength(10 * maxLength * 4);
    const seeds = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const row = result.poisons.inputs.subarray(i * size, (i + 1) * size);
      expect(Array.from(row.subarray(0, maxLength))).toEqual(Array.from(record.baseInputs.subarray(i * size, i * size + maxLength)));
      const [seed, sigma] = [row[maxLength], row[maxLength + 1]];
      expect(Number.isInteger(seed) && seed >= 1 && seed < 2 ** 24).toBe(true);
      expect(sigma).toBe(Math.fround(0.5));
      seeds.add(seed);
      expect(Array.from(record.noise.subarray(i * 24, (i + 1) * 24))).toEqual(Array.from(tokenNoise(seed, sigma, 24)));
    }
    expect(seeds.size).toBe(10);
    expect(result.clean.count).toBe(30);
  });
});

