import { accuracy, type ClassifierModel, type Examples, type ModelFactory } from '@unlearn-bench/core';
import { createTestContext, describeUnlearnerConformance } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPoisonedFixture, training, weightsOf } from '../test-fixture.ts';
import { euKUnlearner } from './index.ts';

let factory: ModelFactory;
let poisoned: ClassifierModel;
let forget: Examples;
let retain: Examples;
let test: Examples;

beforeAll(async () => {
  ({ factory, poisoned, forget, retain, test } = await createPoisonedFixture());
});
afterAll(() => poisoned.dispose());

const input = () => ({ model: poisoned, forget, retain, training, models: factory });

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
