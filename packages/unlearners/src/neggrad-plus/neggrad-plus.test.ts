import { getOrCreateValidator, perExampleLoss, type ClassifierModel, type Examples, type ModelFactory } from '@unlearn-bench/core';
import { createTestContext, describeUnlearnerConformance } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPoisonedFixture, mean, training, weightsOf } from '../test-fixture.ts';
import { gdUnlearner } from '../gd/index.ts';
import { negGradPlusUnlearner, type NegGradPlusOptions } from './index.ts';

let factory: ModelFactory;
const resolveDefaults = () => {
  const options: Record<string, unknown> = {};
  getOrCreateValidator(negGradPlusUnlearner.optionsSchema)(options);
  return options as unknown as NegGradPlusOptions;
};
let poisoned: ClassifierModel;
let forget: Examples;
let retain: Examples;

beforeAll(async () => {
  ({ factory, poisoned, forget, retain } = await createPoisonedFixture());
});
afterAll(() => poisoned.dispose());

const input = () => ({ model: poisoned, forget, retain, training, models: factory });

describeUnlearnerConformance(negGradPlusUnlearner);
describeUnlearnerConformance(negGradPlusUnlearner, { options: { beta: 0.5 }, models: ['mlp'] });

describe('core/neggrad-plus', () => {
  it('with β = 1 equals core/gd bit for bit and spends the same', () => {
    const ctxA = createTestContext(5, 150);
    const ctxB = createTestContext(5, 150);
    const negGrad = weightsOf(negGradPlusUnlearner.create({ beta: 1, batchSize: null, learningRate: null, momentum: null, weightDecay: null }, ctxA).unlearn(input()) as ClassifierModel);
    const gd = weightsOf(gdUnlearner.create({ learningRate: null, batchSize: null, momentum: null }, ctxB).unlearn(input()) as ClassifierModel);
    expect(negGrad).toEqual(gd);
    expect(ctxA.meter.used).toBe(ctxB.meter.used);
  });

  it('defaults to the authors’ plain SGD (lr 0.01, no momentum, no weight decay) and β = 0.95', () => {
    const defaults = resolveDefaults();
    expect(defaults).toMatchObject({ beta: 0.95, learningRate: 0.01, momentum: 0, weightDecay: 0, optimizer: null });
    // With β = 1 the defaults are gd with momentum 0 at lr 0.01 (the recipe has momentum 0.9).
    const negGrad = weightsOf(negGradPlusUnlearner.create({ ...defaults, beta: 1 }, createTestContext(5, 150)).unlearn(input()) as ClassifierModel);
    const plain = weightsOf(gdUnlearner.create({ learningRate: 0.01, batchSize: null, momentum: 0 }, createTestContext(5, 150)).unlearn(input()) as ClassifierModel);
    expect(negGrad).toEqual(plain);
  });

  it('draws forget batches of forgetBatchSize', () => {
    const ctx = createTestContext(5, 96);
    const spent: number[] = [];
    const spend = ctx.meter.spend.bind(ctx.meter);
    (ctx.meter as { spend(n: number): void }).spend = (n) => {
      spent.push(n);
      spend(n);
    };
    (negGradPlusUnlearner.create({ ...resolveDefaults(), batchSize: 16, forgetBatchSize: 8 }, ctx).unlearn(input()) as ClassifierModel).dispose();
    // budget split 16 : 8 → 64 retain examples (4 steps), each with a forget batch of 8.
    expect(spent).toEqual([16, 8, 16, 8, 16, 8, 16, 8]);
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
