import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, inputsTensor, labelsTensor, type ClassifierModel, type Examples, type ModelFactory } from '@unlearn-bench/core';
import { createTestContext, describeUnlearnerConformance } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPoisonedFixture, training, weightsOf } from '../test-fixture.ts';
import { ssdUnlearner } from './index.ts';

let factory: ModelFactory;
let poisoned: ClassifierModel;
let forget: Examples;
let retain: Examples;

beforeAll(async () => {
  ({ factory, poisoned, forget, retain } = await createPoisonedFixture());
});
afterAll(() => poisoned.dispose());

const input = () => ({ model: poisoned, forget, retain, training, models: factory });

/** Mean over examples of the squared per-example gradient, computed one example at a time. */
function fisher(model: ClassifierModel, examples: Examples): Float32Array[] {
  const sums = model.getWeights().map((w) => new Float64Array(w.length));
  for (let i = 0; i < examples.count; i++) {
    const grads = tf.tidy(() => {
      const { grads } = tf.variableGrads(() => crossEntropy(model.logits(inputsTensor(examples, [i])), labelsTensor(examples, [i])), model.parameters() as tf.Variable[]);
      return model.parameters().map((v) => grads[v.name].dataSync() as Float32Array);
    });
    grads.forEach((g, p) => g.forEach((v, j) => (sums[p][j] += v * v)));
  }
  return sums.map((s) => Float32Array.from(s, (v) => v / examples.count));
}

describeUnlearnerConformance(ssdUnlearner);

describe('core/ssd', () => {
  it('dampens exactly the parameters with forget importance > α × retain importance, by min(λ·r/f, 1)', () => {
    const alpha = 10;
    const lambda = 1;
    const ctx = createTestContext(4, 400);
    const after = weightsOf(ssdUnlearner.create({ alpha, lambda, batchSize: 1 }, ctx).unlearn(input()) as ClassifierModel);
    expect(ctx.meter.used).toBe(20 + 380);
    const before = poisoned.getWeights();
    const f = fisher(poisoned, forget);
    const r = fisher(poisoned, retain);
    let dampened = 0;
    let kept = 0;
    before.forEach((w, p) =>
      w.forEach((old, j) => {
        const now = after[p][j];
        const ratio = f[p][j] / (alpha * r[p][j]);
        expect(Math.abs(now)).toBeLessThanOrEqual(Math.abs(old));
        if (now !== old) {
          dampened += 1;
          expect(ratio).toBeGreaterThan(0.999);
          expect(now).toBeCloseTo(old * Math.min((lambda * r[p][j]) / f[p][j], 1), 4);
        } else {
          kept += 1;
          if (old !== 0) expect(ratio).toBeLessThan(1.001);
        }
      }),
    );
    expect(dampened).toBeGreaterThan(0);
    expect(kept).toBeGreaterThan(dampened);
  });

  it('counts every Fisher example against the budget: half at most for the forget set, the rest a retain subsample', () => {
    const ctx = createTestContext(4, 100);
    weightsOf(ssdUnlearner.create({ alpha: 10, lambda: 1, batchSize: 1 }, ctx).unlearn(input()) as ClassifierModel);
    expect(ctx.meter.used).toBe(100);
    const tight = createTestContext(4, 30);
    weightsOf(ssdUnlearner.create({ alpha: 10, lambda: 1, batchSize: 4 }, tight).unlearn(input()) as ClassifierModel);
    expect(tight.meter.used).toBe(30);
  });

  it('with a smaller α dampens more parameters', () => {
    const count = (alpha: number) => {
      const after = weightsOf(ssdUnlearner.create({ alpha, lambda: 1, batchSize: 1 }, createTestContext(4, 400)).unlearn(input()) as ClassifierModel);
      return poisoned.getWeights().reduce((n, w, p) => n + w.filter((v, j) => v !== after[p][j]).length, 0);
    };
    expect(count(1)).toBeGreaterThan(count(10));
  });
});
