import { LABEL_FLIP, accuracy, concatExamples, createBudgetMeter, createExamples, createRng, silentLogger, trainSgd, type DatasetSplit, type PluginContext } from '@unlearn-bench/core';
import { createEngine, mlpModel, mnistDataset, spamAssassinDataset, textBowModel } from '@unlearn-bench/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { labelFlipAttack, type LabelFlipOptions } from './index.ts';

const context = (seed: number): PluginContext => ({ rng: createRng(seed), logger: silentLogger, engine: { backend: 'wasm', reason: 'test', threads: 1 }, meter: createBudgetMeter() });
const defaults: LabelFlipOptions = { mode: 'random', count: null, fraction: 0.05, sourceClass: 0, targetClass: 1 };
let data: DatasetSplit;
const poison = (options: Partial<LabelFlipOptions>, seed = 1) =>
  labelFlipAttack.create({ ...defaults, ...options }, context(seed)).poison({ data, models: undefined as never, training: undefined as never });

beforeAll(async () => {
  await createEngine({ backend: 'wasm' });
  data = await mnistDataset.create({ trainSize: 2000, testSize: 1000, splitSeed: 0, validationSize: 0 }, context(0)).load();
});

describe('core/label-flip', () => {
  it('gives k points a wrong label, keeps their inputs, and records the true labels', async () => {
    const result = await poison({ count: 100 });
    const { originalLabels } = result.artifacts.get(LABEL_FLIP)!;
    expect(result.poisons.count).toBe(100);
    expect(result.clean.count).toBe(1900);
    for (let i = 0; i < 100; i++) expect(result.poisons.labels[i]).not.toBe(originalLabels[i]);
    // every wrong label occurs (uniform over the 9 others)
    expect(new Set(result.poisons.labels).size).toBe(10);
  });

  it('flips sourceClass to targetClass in class mode, and explains impossible counts', async () => {
    const result = await poison({ mode: 'class', count: 50, sourceClass: 3, targetClass: 8 });
    expect([...new Set(result.poisons.labels)]).toEqual([8]);
    expect([...new Set(result.artifacts.get(LABEL_FLIP)!.originalLabels)]).toEqual([3]);
    await expect(async () => poison({ mode: 'class', count: 1000, sourceClass: 3 })).rejects.toThrow(/cannot flip 1000 points of class 3, which has \d+; choose count in 1\.\.\d+/);
    await expect(async () => poison({ mode: 'class', sourceClass: 2, targetClass: 2 })).rejects.toThrow('sourceClass 2 and targetClass 2 must be different classes in 0..9');
  });

  it('lowers test accuracy measurably when trained on (seeded MLP on 2,000 MNIST digits)', async () => {
    // 30% random flips: poisoned accuracy must fall ≥ 3 points below the clean model trained on the same clean set.
    const result = await poison({ fraction: 0.3 }, 2);
    const factory = mlpModel.create({ hidden: [128] }, { inputShape: [28, 28, 1], numClasses: 10 }, context(0));
    const recipe = { epochs: 10, batchSize: 64, learningRate: 0.01, momentum: 0.9, weightDecay: 0, meter: createBudgetMeter() };
    const trained = (examples: typeof result.clean) => {
      const model = factory.build(createRng(5));
      trainSgd(model, examples, { ...recipe, rng: createRng(6) });
      const value = accuracy(model, data.test);
      model.dispose();
      return value;
    };
    const clean = trained(result.clean);
    const poisoned = trained(concatExamples(result.clean, result.poisons));
    expect(clean).toBeGreaterThan(0.85);
    expect(clean - poisoned).toBeGreaterThan(0.03);
  });

  it('keeps the texts of text examples, so a text model trains on S ∪ P', async () => {
    const raw = await spamAssassinDataset.create({ trainSize: 200, testSize: 50, splitSeed: 0, headers: false, maxChars: 300 }, context(0)).load();
    const featurizer = await textBowModel.createFeaturizer!({ dimension: 64, ngrams: 1, lowercase: true, weighting: 'binary', normalize: true, maxTokens: 0, hidden: [] }, context(0));
    const train = createExamples(await featurizer.featurize(raw.train.texts!), raw.train.labels, featurizer.featureShape, raw.train.texts);
    const result = await labelFlipAttack.create({ ...defaults, count: 20 }, context(1)).poison({ data: { ...raw, train }, models: undefined as never, training: undefined as never });
    expect(result.poisons.texts).toHaveLength(20);
    const all = concatExamples(result.clean, result.poisons);
    expect(all.count).toBe(200);
    expect([...all.texts!].sort()).toEqual([...raw.train.texts!].sort());
  });
});
