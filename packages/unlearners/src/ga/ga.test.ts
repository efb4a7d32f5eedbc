import * as tf from '@tensorflow/tfjs-core';
import { createBudgetMeter, createRng, crossEntropy, perExampleLoss, trainSgd, type ClassifierModel, type Examples, type ModelFactory } from '@unlearn-bench/core';
import { createTestContext, describeUnlearnerConformance } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPoisonedFixture, mean, training, weightsOf } from '../test-fixture.ts';
import { gaUnlearner } from './index.ts';

let factory: ModelFactory;
let poisoned: ClassifierModel;
let forget: Examples;
let retain: Examples;

beforeAll(async () => {
  ({ factory, poisoned, forget, retain } = await createPoisonedFixture());
});
afterAll(() => poisoned.dispose());

const input = () => ({ model: poisoned, forget, retain, training, models: factory });

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

  it('keeps one optimizer across passes: two passes equal one two-epoch ascent run with momentum', () => {
    // 40 budget examples = 2 passes over the 20 forget points (batches of 16 + 4). With the
    // momentum carried over, that is exactly one trainSgd run of 2 epochs with the same order.
    const ga = weightsOf(gaUnlearner.create({ learningRate: 0.05, batchSize: null, momentum: 0.9 }, createTestContext(4, 40)).unlearn(input()) as ClassifierModel);
    const reference = poisoned.clone();
    const ascent = (m: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D) => tf.neg(crossEntropy(m.logits(x), y)) as tf.Scalar;
    trainSgd(reference, forget, { ...training, learningRate: 0.05, momentum: 0.9, epochs: 2, loss: ascent, rng: createRng(4), meter: createBudgetMeter() });
    expect(ga).toEqual(weightsOf(reference));
  });

  it('undoes a pass that overflows the weights and stops there', () => {
    const ctx = createTestContext(4, 100);
    const weights = weightsOf(gaUnlearner.create({ learningRate: 1e38, batchSize: null, momentum: null }, ctx).unlearn(input()) as ClassifierModel);
    expect(weights).toEqual(poisoned.getWeights());
    expect(ctx.meter.used).toBe(20);
  });
});
