import { createBudgetMeter, createRng, perExampleLoss, trainSgd, type ClassifierModel, type Examples, type ModelFactory } from '@unlearn-bench/core';
import { createTestContext, describeUnlearnerConformance } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPoisonedFixture, mean, training } from '../test-fixture.ts';
import { cfKUnlearner } from './index.ts';

let factory: ModelFactory;
let poisoned: ClassifierModel;
let forget: Examples;
let retain: Examples;

beforeAll(async () => {
  ({ factory, poisoned, forget, retain } = await createPoisonedFixture());
});
afterAll(() => poisoned.dispose());

const input = () => ({ model: poisoned, forget, retain, training, models: factory });

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
