import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { concatExamples, createBudgetMeter, createRng, selectExamples, trainSgd, type ClassifierModel, type DatasetSplit, type Examples, type ModelFactory, type TrainingRecipe } from '@unlearn-bench/core';
import { blobsDataset, createTestContext, describeUnlearnerConformance, mlpTestModel } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gdUnlearner } from '../gd/index.ts';
import { ngdUnlearner } from './index.ts';

const training: TrainingRecipe = { epochs: 3, batchSize: 16, learningRate: 0.1, momentum: 0.9, weightDecay: 0 };
let factory: ModelFactory;
let poisoned: ClassifierModel;
let forget: Examples;
let retain: Examples;

beforeAll(async () => {
  await tf.setBackend('cpu');
  const data = blobsDataset.create({ trainSize: 400, testSize: 40, dimension: 8, separation: 3 }, createTestContext(1)).load() as DatasetSplit;
  const all = Int32Array.from({ length: 400 }, (_, i) => i);
  forget = selectExamples(data.train, all.subarray(0, 20));
  forget = { ...forget, labels: forget.labels.map((y) => (y + 1) % 4) };
  retain = selectExamples(data.train, all.subarray(20));
  factory = mlpTestModel.create({ hidden: 16 }, { inputShape: [8], numClasses: 4 }, createTestContext(1));
  poisoned = factory.build(createRng(2));
  trainSgd(poisoned, concatExamples(retain, forget), { ...training, rng: createRng(3), meter: createBudgetMeter() });
});
afterAll(() => poisoned.dispose());

const unlearned = (model: ClassifierModel) => {
  const weights = model.getWeights();
  model.dispose();
  return weights;
};

describeUnlearnerConformance(ngdUnlearner);

describe('core/ngd', () => {
  it('with σ = 0 equals core/gd bit for bit', () => {
    const input = { model: poisoned, forget, retain, training, models: factory };
    const ngd = unlearned(ngdUnlearner.create({ sigma: 0, learningRate: null, batchSize: null, momentum: null }, createTestContext(5, 150)).unlearn(input) as ClassifierModel);
    const gd = unlearned(gdUnlearner.create({ learningRate: null, batchSize: null, momentum: null }, createTestContext(5, 150)).unlearn(input) as ClassifierModel);
    expect(ngd).toEqual(gd);
    expect(ngd).not.toEqual(poisoned.getWeights());
  });

  it('adds N(0, σ²) noise to the gradient: one step differs from gd by −η·ξ with sd(ξ) ≈ σ', () => {
    const input = { model: poisoned, forget, retain, training, models: factory };
    const sigma = 0.5;
    const eta = 0.1;
    const ngd = unlearned(ngdUnlearner.create({ sigma, learningRate: eta, batchSize: 16, momentum: 0 }, createTestContext(6, 16)).unlearn(input) as ClassifierModel);
    const gd = unlearned(gdUnlearner.create({ learningRate: eta, batchSize: 16, momentum: 0 }, createTestContext(6, 16)).unlearn(input) as ClassifierModel);
    const noise = ngd.flatMap((w, i) => Array.from(w, (v, j) => (gd[i][j] - v) / eta));
    const mean = noise.reduce((a, b) => a + b, 0) / noise.length;
    const sd = Math.sqrt(noise.reduce((a, b) => a + (b - mean) ** 2, 0) / noise.length);
    expect(noise.length).toBe(8 * 16 + 16 + 16 * 4 + 4);
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(sd).toBeGreaterThan(0.8 * sigma);
    expect(sd).toBeLessThan(1.2 * sigma);
  });

  it('keeps the noise out of the momentum buffer: step 2 carries no share of step 1’s noise', () => {
    // d₁ = ngd − gd after one step is −η·ξ₁. After two steps with momentum μ, the extra r = d₂ − d₁
    // is −η·ξ₂ (independent of ξ₁) when the noise is only in the update, but −η(μ·ξ₁ + ξ₂) when
    // it sits in the gradient that feeds the buffer. η is small so that the gradients' own
    // response to the perturbation (∝ η²) stays far below μ·η·ξ₁.
    const input = { model: poisoned, forget, retain, training, models: factory };
    const options = { sigma: 1, learningRate: 0.01, batchSize: 16, momentum: 0.9 };
    const difference = (budget: number) => {
      const ngd = unlearned(ngdUnlearner.create(options, createTestContext(7, budget)).unlearn(input) as ClassifierModel);
      const gd = unlearned(gdUnlearner.create(options, createTestContext(7, budget)).unlearn(input) as ClassifierModel);
      return ngd.flatMap((w, i) => Array.from(w, (v, j) => v - gd[i][j]));
    };
    const d1 = difference(16);
    const d2 = difference(32);
    const r = d2.map((v, i) => v - d1[i]);
    const slope = r.reduce((a, v, i) => a + v * d1[i], 0) / d1.reduce((a, v) => a + v * v, 0);
    expect(Math.abs(slope)).toBeLessThan(0.25); // noise in the buffer gives ≈ μ = 0.9
  });
});
