import {
  accuracy,
  createBudgetMeter,
  createExamples,
  createRng,
  getOrCreateValidator,
  silentLogger,
  trainSgd,
  type PluginContext,
} from '@unlearn-bench/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../engine/index.ts';
import { spamAssassinDataset } from '../spam-assassin/index.ts';
import { createHashingFeaturizer, textBowModel, tokenize } from './index.ts';

const ctx: PluginContext = { rng: createRng(0), logger: silentLogger, engine: { backend: 'wasm', reason: 'test', threads: 1 }, meter: createBudgetMeter() };
const defaults = { dimension: 64, ngrams: 1, lowercase: true, weighting: 'count', normalize: false, maxTokens: 0 } as const;

beforeAll(async () => {
  await createEngine({ backend: 'wasm' });
});

describe('text-bow', () => {
  it('fills defaults from its schema and rejects bad options', () => {
    const validate = getOrCreateValidator(textBowModel.optionsSchema);
    const options = {};
    expect(validate(options)).toBe(true);
    expect(options).toEqual({ dimension: 2048, ngrams: 1, lowercase: true, weighting: 'log1p', normalize: true, maxTokens: 0, hidden: [64] });
    expect(validate({ ngrams: 0 })).toBe(false);
    expect(validate({ weighting: 'tfidf' })).toBe(false);
  });

  it('tokenises words and digits, keeping apostrophes inside words', () => {
    expect(tokenize("Don't PANIC: 42 towels, café-au-lait!", true)).toEqual(["don't", 'panic', '42', 'towels', 'café', 'au', 'lait']);
    expect(tokenize('Big big', false)).toEqual(['Big', 'big']);
  });

  it('counts hashed words; n-grams add word pairs; weighting and L2 norm apply per vector', async () => {
    const counts = await createHashingFeaturizer(defaults).featurize(['a b a', '']);
    expect(counts.length).toBe(128);
    expect(counts.slice(0, 64).reduce((s, v) => s + v, 0)).toBe(3);
    expect(Math.max(...counts.slice(0, 64))).toBeGreaterThanOrEqual(2); // "a" twice (unless a and b collide: then 3)
    expect(counts.slice(64).every((v) => v === 0)).toBe(true);
    const bigrams = await createHashingFeaturizer({ ...defaults, ngrams: 2 }).featurize(['a b a']);
    expect(bigrams.reduce((s, v) => s + v, 0)).toBe(5); // 3 words + 2 pairs
    const binary = await createHashingFeaturizer({ ...defaults, weighting: 'binary', normalize: true }).featurize(['a a a b']);
    const nonzero = Array.from(binary).filter((v) => v !== 0);
    expect(nonzero.length).toBe(2);
    nonzero.forEach((v) => expect(v).toBeCloseTo(Math.SQRT1_2, 6));
    const log = await createHashingFeaturizer({ ...defaults, weighting: 'log1p' }).featurize(['a a a']);
    expect(Math.max(...log)).toBeCloseTo(Math.log(4), 6);
    const capped = await createHashingFeaturizer({ ...defaults, maxTokens: 2 }).featurize(['a b c d']);
    expect(capped.reduce((s, v) => s + v, 0)).toBe(2);
  });

  it('learns real spam vs ham: > 0.9 test accuracy with a linear head on 1,500 emails', async () => {
    const data = await spamAssassinDataset.create({ trainSize: 1500, testSize: 500, splitSeed: 0, headers: false, maxChars: 2000 }, ctx).load();
    const options = { dimension: 1024, ngrams: 1, lowercase: true, weighting: 'log1p', normalize: true, maxTokens: 0, hidden: [] } as const;
    const featurizer = await textBowModel.createFeaturizer!(options, ctx);
    const featurize = async (examples: typeof data.train) => createExamples(await featurizer.featurize(examples.texts!), examples.labels, featurizer.featureShape);
    const [train, test] = [await featurize(data.train), await featurize(data.test)];
    const model = textBowModel.create(options, { inputShape: featurizer.featureShape, numClasses: 2 }, ctx).build(createRng(1));
    expect(model.layers().map((layer) => layer.parameters.map((p) => p.shape))).toEqual([[[1024, 2], [2]]]);
    trainSgd(model, train, { epochs: 10, batchSize: 32, learningRate: 0.5, momentum: 0.9, weightDecay: 0, rng: createRng(2), meter: createBudgetMeter() });
    const learned = accuracy(model, test);
    model.dispose();
    expect(learned).toBeGreaterThan(0.9);
  });
});
