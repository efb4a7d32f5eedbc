import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { concatExamples, createBudgetMeter, createRng, perExampleLoss, selectExamples, trainSgd, type ClassifierModel, type DatasetSplit, type Examples, type ModelFactory, type TrainingRecipe } from '@unlearn-bench/core';
import { blobsDataset, createTestContext, describeUnlearnerConformance, mlpTestModel } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gaUnlearner } from './index.ts';

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

describeUnlearnerConformance(gaUnlearner);

describe('core/ga', () => {
  it('raises the forget loss, spends exactly its budget on forget examples', () => {
    const ctx = createTestContext(4, 100);
    const model = gaUnlearner.create({ learningRate: null, batchSize: null, momentum: null }, ctx).unlearn(input()) as ClassifierModel;
    expect(ctx.meter.used).toBe(100);
    const before = mean(perExampleLoss(poisoned, forget));
    const after = mean(perExampleLoss(model, forget));
    expect(after).toBeGreaterThan(before + 1);
    model.dispose();
  });

  it('uses its own learning rate', () => {
    const weights = weightsOf(gaUnlearner.create({ learningRate: 1e-9, batchSize: null, momentum: null }, createTestContext(4, 100)).unlearn(input()) as ClassifierModel);
    poisoned.getWeights().forEach((w, i) => w.forEach((v, j) => expect(weights[i][j]).toBeCloseTo(v, 5)));
  });

  it('undoes a pass that overflows the weights and stops there', () => {
    const ctx = createTestContext(4, 100);
    const weights = weightsOf(gaUnlearner.create({ learningRate: 1e38, batchSize: null, momentum: null }, ctx).unlearn(input()) as ClassifierModel);
    expect(weights).toEqual(poisoned.getWeights());
    expect(ctx.meter.used).toBe(20);
  });
});
