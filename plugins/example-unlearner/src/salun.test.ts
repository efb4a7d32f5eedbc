import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { accuracy, createBudgetMeter, createRng, crossEntropy, inputsTensor, labelsTensor, selectExamples, trainSgd, type ClassifierModel, type DatasetSplit, type Examples, type ModelFactory, type TrainingRecipe } from '@unlearn-bench/core';
import { blobsDataset, createTestContext, linearModel } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import plugin, { saliencyMask, salunUnlearner } from './index.ts';

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

describe('saliencyMask', () => {
  it('keeps exactly the requested fraction of the largest magnitudes', () => {
    const values = Float32Array.from({ length: 100 }, (_, i) => i);
    const mask = saliencyMask(values, 0.25);
    expect(mask.reduce((n, v) => n + v, 0)).toBe(25);
    expect(Array.from(mask.subarray(75)).every((v) => v === 1)).toBe(true);
    expect(saliencyMask(values, 1).every((v) => v === 1)).toBe(true);
  });

  it('keeps exactly the fraction under ties: most gradients exactly 0 (black pixels, dead ReLUs)', () => {
    // 70 zeros and 30 positive values: the top half is the 30 positives and the first 20 zeros.
    const values = Float32Array.from({ length: 100 }, (_, i) => (i % 10 < 7 ? 0 : 1 + i));
    const mask = saliencyMask(values, 0.5);
    expect(mask.reduce((n, v) => n + v, 0)).toBe(50);
    expect(values.every((v, i) => v === 0 || mask[i] === 1)).toBe(true);
    const zerosKept = Array.from(values.keys()).filter((i) => values[i] === 0 && mask[i] === 1);
    expect(zerosKept).toEqual(Array.from(values.keys()).filter((i) => values[i] === 0).slice(0, 20));
    // All equal: ⌊0.3 · 10⌋ = 3, the first three.
    expect(Array.from(saliencyMask(new Float32Array(10), 0.3))).toEqual([1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
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

  it('with a budget below |U|, builds the mask on a subsample of U and still takes unlearning steps', () => {
    const warnings: string[] = [];
    const ctx = { ...createTestContext(4, 20), logger: { ...createTestContext().logger, warn: (m: string) => warnings.push(m) } };
    const unlearned = salunUnlearner.create(options, ctx).unlearn({ model: trained, forget, retain, training, models: factory }) as ClassifierModel;
    expect(ctx.meter.used).toBe(20);
    expect(unlearned.getWeights()).not.toEqual(trained.getWeights());
    expect(warnings).toEqual(['salun/salun: the budget (20 examples) is below |U| = 30; the saliency mask uses a random subsample of 10 forget examples']);
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
