import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { concatExamples, createBudgetMeter, createRng, perExampleLoss, selectExamples, trainSgd, type ClassifierModel, type DatasetSplit, type Examples, type ModelFactory, type TrainingRecipe } from '@unlearn-bench/core';
import { blobsDataset, createTestContext, describeUnlearnerConformance, mlpTestModel } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accuracy } from '@unlearn-bench/core';
import { euKUnlearner } from './index.ts';

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

describeUnlearnerConformance(euKUnlearner);
describeUnlearnerConformance(euKUnlearner, { options: { k: 2 }, models: ['mlp'] });

describe('core/eu-k', () => {
  const options = { k: 1, learningRate: null, batchSize: null, momentum: null };

  it('re-initialises exactly the last k layers; earlier layers stay bit-identical', () => {
    const before = poisoned.getWeights();
    const after = weightsOf(euKUnlearner.create({ ...options, learningRate: 1e-12 }, createTestContext(4, 50)).unlearn(input()) as ClassifierModel);
    expect(after.slice(0, 2)).toEqual(before.slice(0, 2));
    // dense2 as freshly drawn: He-uniform kernel (|w| ≤ √(6/16)) unrelated to the old one, zero bias.
    const [kernel, bias] = [after[2], after[3]];
    expect(kernel.every((v, i) => Math.abs(v) <= Math.sqrt(6 / 16) && v !== before[2][i])).toBe(true);
    expect(bias.every((v) => Math.abs(v) < 1e-9)).toBe(true);
    expect(before[3].some((v) => Math.abs(v) > 1e-3)).toBe(true);
  });

  it('retrains the re-initialised layer to a useful classifier within the budget', () => {
    const ctx = createTestContext(4, 600);
    const model = euKUnlearner.create(options, ctx).unlearn(input()) as ClassifierModel;
    expect(ctx.meter.used).toBe(600);
    expect(accuracy(model, test)).toBeGreaterThan(0.9);
    model.dispose();
  });

  it('with k = 2 changes every layer, and rejects a k larger than the model', () => {
    const before = poisoned.getWeights();
    const after = weightsOf(euKUnlearner.create({ ...options, k: 2 }, createTestContext(4, 50)).unlearn(input()) as ClassifierModel);
    after.forEach((w, i) => expect(w).not.toEqual(before[i]));
    expect(() => euKUnlearner.create({ ...options, k: 3 }, createTestContext(4, 50)).unlearn(input())).toThrowErrorMatchingInlineSnapshot(`[RangeError: core/eu-k: options.k is 3 but the model has 2 layer(s) (dense1, dense2); set k between 1 and 2]`);
  });
});
