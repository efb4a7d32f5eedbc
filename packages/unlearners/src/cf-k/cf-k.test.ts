import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { concatExamples, createBudgetMeter, createRng, perExampleLoss, selectExamples, trainSgd, type ClassifierModel, type DatasetSplit, type Examples, type ModelFactory, type TrainingRecipe } from '@unlearn-bench/core';
import { blobsDataset, createTestContext, describeUnlearnerConformance, mlpTestModel } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cfKUnlearner } from './index.ts';

const training: TrainingRecipe = { epochs: 3, batchSize: 16, learningRate: 0.1, momentum: 0.9, weightDecay: 0 };
let factory: ModelFactory;
let poisoned: ClassifierModel;
let forget: Examples;
let retain: Examples;
let test: Examples;

/** Blobs; the forget set is 20 training points with shifted labels; the model trained on both. */
beforeAll(async () => {
  await tf.setBackend('cpu');
  const data = blobsDataset.create({ trainSize: 400, testSize: 200, dimension: 8, separation: 3 }, createTestContext(1)).load() as DatasetSplit;
  const all = Int32Array.from({ length: 400 }, (_, i) => i);
  const picked = selectExamples(data.train, all.subarray(0, 20));
  forget = { ...picked, labels: picked.labels.map((y) => (y + 1) % 4) };
  retain = selectExamples(data.train, all.subarray(20));
  test = data.test;
  factory = mlpTestModel.create({ hidden: 16 }, { inputShape: [8], numClasses: 4 }, createTestContext(1));
  poisoned = factory.build(createRng(2));
  trainSgd(poisoned, concatExamples(retain, forget), { ...training, rng: createRng(3), meter: createBudgetMeter() });
});
afterAll(() => poisoned.dispose());

const mean = (values: Float32Array) => values.reduce((a, b) => a + b, 0) / values.length;
const input = () => ({ model: poisoned, forget, retain, training, models: factory });
const weightsOf = (model: ClassifierModel) => {
  const weights = model.getWeights();
  model.dispose();
  return weights;
};

describeUnlearnerConformance(cfKUnlearner);
describeUnlearnerConformance(cfKUnlearner, { options: { k: 2 }, models: ['mlp'] });

describe('core/cf-k', () => {
  const options = { k: 1, learningRate: null, batchSize: null, momentum: null };

  it('fine-tunes only the last layer: dense1 bit-identical, dense2 moves and fits the retain set', () => {
    // A model that learnt shifted labels everywhere, so the retain set strongly disagrees with it.
    const shifted = factory.build(createRng(7));
    trainSgd(shifted, { ...retain, labels: retain.labels.map((y) => (y + 1) % 4) }, { ...training, rng: createRng(8), meter: createBudgetMeter() });
    const before = shifted.getWeights();
    const ctx = createTestContext(4, 400);
    const model = cfKUnlearner.create(options, ctx).unlearn({ ...input(), model: shifted }) as ClassifierModel;
    const after = model.getWeights();
    expect(ctx.meter.used).toBe(400);
    expect(after.slice(0, 2)).toEqual(before.slice(0, 2));
    expect(after[2]).not.toEqual(before[2]);
    expect(mean(perExampleLoss(model, retain))).toBeLessThan(0.25 * mean(perExampleLoss(shifted, retain)));
    model.dispose();
    shifted.dispose();
  });

  it('rejects a k larger than the model', () => {
    expect(() => cfKUnlearner.create({ ...options, k: 5 }, createTestContext(4, 50)).unlearn(input())).toThrowErrorMatchingInlineSnapshot(`[RangeError: core/cf-k: options.k is 5 but the model has 2 layer(s) (dense1, dense2); set k between 1 and 2]`);
  });
});
