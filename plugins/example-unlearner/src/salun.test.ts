import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { accuracy, createBudgetMeter, createRng, crossEntropy, inputsTensor, labelsTensor, selectExamples, trainSgd, type ClassifierModel, type DatasetSplit, type Examples, type ModelFactory, type TrainingRecipe } from '@unlearn-bench/core';
import { blobsDataset, createTestContext, linearModel } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import plugin, { saliencyThreshold, salunUnlearner } from './index.ts';

const training: TrainingRecipe = { epochs: 40, batchSize: 16, learningRate: 0.1, momentum: 0.9, weightDecay: 0 };
const options = { sparsity: 0.3, alpha: 1, learningRate: 0.5, batchSize: 16 };
let data: DatasetSplit;
let factory: ModelFactory;
let trained: ClassifierModel;
let forget: Examples;
let retain: Examples;

beforeAll(async () => {
  await tf.setBackend('cpu');
  data = await blobsDataset.create({ trainSize: 300, testSize: 100, dimension: 30, separation: 1 }, createTestContext(1)).load();
  factory = linearModel.create({}, { inputShape: [30], numClasses: 4 }, createTestContext());
  forget = selectExamples(data.train, Int32Array.from({ length: 30 }, (_, i) => i));
  retain = selectExamples(data.train, Int32Array.from({ length: 270 }, (_, i) => 30 + i));
  trained = factory.build(createRng(2));
  trainSgd(trained, data.train, { ...training, rng: createRng(3), meter: createBudgetMeter() });
});
afterAll(() => trained.dispose());

describe('saliencyThreshold', () => {
  it('keeps the requested fraction of the largest magnitudes', () => {
    const values = Float32Array.from({ length: 100 }, (_, i) => i);
    expect(values.filter((v) => v >= saliencyThreshold(values, 0.25)).length).toBe(25);
    expect(values.filter((v) => v >= saliencyThreshold(values, 1)).length).toBe(100);
  });
});

describe('salun/salun', () => {
  it('is a plugin for this core', () => {
    expect(plugin.meta).toMatchObject({ namespace: 'salun', apiVersion: 1 });
    expect(plugin.unlearners?.map((u) => u.id)).toEqual(['salun']);
  });

  it('updates only the salient parameters, within the budget, and forgets the forget set', () => {
    const ctx = createTestContext(4, 600);
    const unlearned = salunUnlearner.create(options, ctx).unlearn({ model: trained, forget, retain, training, models: factory }) as ClassifierModel;
    expect(ctx.meter.used).toBeLessThanOrEqual(600);
    expect(ctx.meter.used).toBeGreaterThan(560);
    // Independent saliency: |∇ of the forget loss| at the trained model.
    const variables = trained.parameters() as tf.Variable[];
    const magnitudes = tf.tidy(() => {
      const { grads } = tf.variableGrads(() => crossEntropy(trained.logits(inputsTensor(forget)), labelsTensor(forget)), variables);
      return variables.map((v) => Float32Array.from(tf.abs(grads[v.name]).dataSync()));
    });
    const all = Float32Array.from(magnitudes.flatMap((m) => Array.from(m)));
    const threshold = Float32Array.from(all).sort()[all.length - Math.round(0.3 * all.length)];
    let changed = 0;
    const before = trained.getWeights();
    unlearned.getWeights().forEach((w, k) => {
      w.forEach((value, j) => {
        if (value !== before[k][j]) {
          changed++;
          expect(magnitudes[k][j]).toBeGreaterThanOrEqual(threshold);
        }
      });
    });
    expect(changed).toBeGreaterThan(0.2 * all.length);
    expect(changed).toBeLessThanOrEqual(Math.round(0.3 * all.length) + 2);
    expect(accuracy(unlearned, forget)).toBeLessThan(accuracy(trained, forget) - 0.2);
    expect(trained.getWeights()).toEqual(before);
    unlearned.dispose();
  });

  it('gives identical weights for the same seed and leaks no tensors', () => {
    const run = (seed: number) => {
      const model = salunUnlearner.create(options, createTestContext(seed, 200)).unlearn({ model: trained, forget, retain, training, models: factory }) as ClassifierModel;
      const weights = model.getWeights();
      model.dispose();
      return weights;
    };
    const first = run(7);
    const tensors = tf.memory().numTensors;
    expect(run(7)).toEqual(first);
    expect(run(8)).not.toEqual(first);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
