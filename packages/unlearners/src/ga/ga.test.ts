import { perExampleLoss, type ClassifierModel, type Examples, type ModelFactory } from '@unlearn-bench/core';
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

  it('undoes a pass that overflows the weights and stops there', () => {
    const ctx = createTestContext(4, 100);
    const weights = weightsOf(gaUnlearner.create({ learningRate: 1e38, batchSize: null, momentum: null }, ctx).unlearn(input()) as ClassifierModel);
    expect(weights).toEqual(poisoned.getWeights());
    expect(ctx.meter.used).toBe(20);
  });
});
