import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { concatExamples, createBudgetMeter, createRng, perExampleLoss, selectExamples, trainSgd, type ClassifierModel, type DatasetSplit, type Examples, type ModelFactory, type TrainingRecipe } from '@unlearn-bench/core';
import { blobsDataset, createTestContext, describeUnlearnerConformance, mlpTestModel } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gdUnlearner } from '../gd/index.ts';
import { negGradPlusUnlearner } from './index.ts';

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

describeUnlearnerConformance(negGradPlusUnlearner);
describeUnlearnerConformance(negGradPlusUnlearner, { options: { beta: 0.5 }, models: ['mlp'] });

describe('core/neggrad-plus', () => {
  it('with β = 1 equals core/gd bit for bit and spends the same', () => {
    const ctxA = createTestContext(5, 150);
    const ctxB = createTestContext(5, 150);
    const negGrad = weightsOf(negGradPlusUnlearner.create({ beta: 1, batchSize: null, learningRate: null, momentum: null }, ctxA).unlearn(input()) as ClassifierModel);
    const gd = weightsOf(gdUnlearner.create({ learningRate: null, batchSize: null, momentum: null }, ctxB).unlearn(input()) as ClassifierModel);
    expect(negGrad).toEqual(gd);
    expect(ctxA.meter.used).toBe(ctxB.meter.used);
  });

  it('with β < 1 spends the budget on retain and forget batches and raises the forget loss above gd’s', () => {
    const ctx = createTestContext(5, 300);
    const model = negGradPlusUnlearner.create({ beta: 0.5, batchSize: 16, learningRate: null, momentum: null }, ctx).unlearn(input()) as ClassifierModel;
    const gd = gdUnlearner.create({ learningRate: null, batchSize: 16, momentum: null }, createTestContext(5, 300)).unlearn(input()) as ClassifierModel;
    expect(ctx.meter.used).toBeGreaterThan(300 - 16);
    expect(ctx.meter.used).toBeLessThanOrEqual(300);
    expect(mean(perExampleLoss(model, forget))).toBeGreaterThan(mean(perExampleLoss(gd, forget)) + 1);
    model.dispose();
    gd.dispose();
  });
});
