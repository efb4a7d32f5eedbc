import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createRng, perExampleLoss, trainSgd, createBudgetMeter, type ClassifierModel, type DatasetSplit, type ModelFactory, type TrainingRecipe } from '@unlearn-bench/core';
import { blobsDataset, createTestContext, describeUnlearnerConformance, linearModel } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gdUnlearner } from './gd/index.ts';
import { noneUnlearner } from './none/index.ts';
import { retrainUnlearner } from './retrain/index.ts';
import { retrainReplicaUnlearner } from './retrain-replica/index.ts';

const training: TrainingRecipe = { epochs: 3, batchSize: 16, learningRate: 0.1, momentum: 0.9, weightDecay: 0 };
let data: DatasetSplit;
let factory: ModelFactory;
let poisoned: ClassifierModel;

const mean = (values: Float32Array) => values.reduce((a, b) => a + b, 0) / values.length;
const sameWeights = (a: ClassifierModel, b: ClassifierModel) => a.getWeights().every((w, i) => w.every((v, j) => v === b.getWeights()[i][j]));

beforeAll(async () => {
  await tf.setBackend('cpu');
  data = await blobsDataset.create({ trainSize: 400, testSize: 100, dimension: 8, separation: 3 }, createTestContext(1)).load();
  factory = linearModel.create({}, { inputShape: [8], numClasses: 4 }, createTestContext(1));
  poisoned = factory.build(createRng(2));
  // A "poisoned" model: trained on labels shifted by one class, so retain data disagrees with it.
  const shifted = { ...data.train, labels: data.train.labels.map((y) => (y + 1) % 4) };
  trainSgd(poisoned, shifted, { ...training, rng: createRng(3), meter: createBudgetMeter() });
});
afterAll(() => poisoned.dispose());

describe('core/gd', () => {
  it('spends exactly its budget, lowers the retain loss, and leaves the given model untouched', () => {
    const before = poisoned.getWeights();
    const ctx = createTestContext(4, 250);
    const result = gdUnlearner.create({ learningRate: null, batchSize: null, momentum: null }, ctx).unlearn({ model: poisoned, forget: data.test, retain: data.train, training, models: factory }) as ClassifierModel;
    expect(ctx.meter.used).toBe(250);
    expect(result).not.toBe(poisoned);
    expect(poisoned.getWeights()).toEqual(before);
    expect(mean(perExampleLoss(result, data.train))).toBeLessThan(0.5 * mean(perExampleLoss(poisoned, data.train)));
    result.dispose();
  });

  it('gives identical weights for the same seed, and uses its own learning rate', () => {
    const run = (seed: number, learningRate: number | null) => {
      const model = gdUnlearner.create({ learningRate, batchSize: 8, momentum: 0 }, createTestContext(seed, 64)).unlearn({ model: poisoned, forget: data.test, retain: data.train, training, models: factory }) as ClassifierModel;
      const weights = model.getWeights();
      model.dispose();
      return weights;
    };
    expect(run(5, null)).toEqual(run(5, null));
    expect(run(5, null)).not.toEqual(run(6, null));
    expect(run(5, 1e-9)[0][0]).toBeCloseTo(poisoned.getWeights()[0][0], 5);
  });

  it('leaks no tensors', () => {
    const before = tf.memory().numTensors;
    const model = gdUnlearner.create({ learningRate: null, batchSize: null, momentum: null }, createTestContext(4, 100)).unlearn({ model: poisoned, forget: data.test, retain: data.train, training, models: factory }) as ClassifierModel;
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('trains with the recipe\'s augmentation unless its augment option overrides it ({} turns it off)', () => {
    // The blobs as 2×4 one-channel images, so crop and flip apply.
    const images = { ...data.train, inputShape: [2, 4, 1] };
    const imageFactory = linearModel.create({}, { inputShape: [2, 4, 1], numClasses: 4 }, createTestContext(1));
    const start = imageFactory.build(createRng(2));
    const augmented: TrainingRecipe = { ...training, augment: { crop: 1, flip: true } };
    const run = (recipe: TrainingRecipe, augment: TrainingRecipe['augment'] | null) =>
      gdUnlearner.create({ learningRate: null, batchSize: null, momentum: null, augment }, createTestContext(4, 200)).unlearn({ model: start, forget: images, retain: images, training: recipe, models: imageFactory }) as ClassifierModel;
    const plain = run(training, null);
    const inherited = run(augmented, null);
    const off = run(augmented, {});
    const onlyHere = run(training, { crop: 1, flip: true });
    expect(sameWeights(off, plain)).toBe(true);
    expect(sameWeights(inherited, plain)).toBe(false);
    expect(sameWeights(onlyHere, inherited)).toBe(true);
    for (const model of [start, plain, inherited, off, onlyHere]) model.dispose();
  });
});

describe('core/none', () => {
  it('returns an independent copy of the poisoned model', () => {
    const copy = noneUnlearner.create({}, createTestContext()).unlearn({ model: poisoned, forget: data.test, retain: data.train, training, models: factory }) as ClassifierModel;
    expect(sameWeights(copy, poisoned)).toBe(true);
    copy.setWeights(copy.getWeights().map((w) => w.map(() => 0)));
    expect(sameWeights(copy, poisoned)).toBe(false);
    copy.dispose();
  });
});

describe('core/retrain', () => {
  it('ignores the poisoned weights and trains epochs × |retain| examples from scratch', () => {
    const other = factory.build(createRng(99));
    const ctxA = createTestContext(7);
    const a = retrainUnlearner.create({}, ctxA).unlearn({ model: poisoned, forget: data.test, retain: data.train, training, models: factory }) as ClassifierModel;
    const b = retrainUnlearner.create({}, createTestContext(7)).unlearn({ model: other, forget: data.test, retain: data.train, training, models: factory }) as ClassifierModel;
    expect(sameWeights(a, b)).toBe(true);
    expect(ctxA.meter.used).toBe(training.epochs * data.train.count);
    expect(mean(perExampleLoss(a, data.train))).toBeLessThan(0.3);
    for (const m of [other, a, b]) m.dispose();
  });
});

describe('core/retrain-replica', () => {
  it('retrains epochs × |retain| from its own initialisation and order: another draw of retraining, not a copy', () => {
    const ctx = createTestContext(7);
    const replica = retrainReplicaUnlearner.create({}, ctx).unlearn({ model: poisoned, forget: data.test, retain: data.train, training, models: factory }) as ClassifierModel;
    const retrained = retrainUnlearner.create({}, createTestContext(7)).unlearn({ model: poisoned, forget: data.test, retain: data.train, training, models: factory }) as ClassifierModel;
    expect(retrainReplicaUnlearner.budget).toBe('unlimited');
    expect(ctx.meter.used).toBe(training.epochs * data.train.count);
    expect(sameWeights(replica, retrained)).toBe(false);
    expect(mean(perExampleLoss(replica, data.train))).toBeLessThan(0.3);
    for (const m of [replica, retrained]) m.dispose();
  });
});

describeUnlearnerConformance(noneUnlearner);
describeUnlearnerConformance(retrainUnlearner);
describeUnlearnerConformance(retrainReplicaUnlearner);
describeUnlearnerConformance(gdUnlearner);
