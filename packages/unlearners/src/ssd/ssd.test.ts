import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { concatExamples, createBudgetMeter, createRng, perExampleLoss, selectExamples, trainSgd, type ClassifierModel, type DatasetSplit, type Examples, type ModelFactory, type TrainingRecipe } from '@unlearn-bench/core';
import { blobsDataset, createTestContext, describeUnlearnerConformance, mlpTestModel } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crossEntropy, inputsTensor, labelsTensor } from '@unlearn-bench/core';
import { ssdUnlearner } from './index.ts';

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
