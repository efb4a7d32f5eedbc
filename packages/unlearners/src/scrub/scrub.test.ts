import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { concatExamples, createBudgetMeter, createRng, perExampleLoss, selectExamples, trainSgd, type ClassifierModel, type DatasetSplit, type Examples, type ModelFactory, type TrainingRecipe } from '@unlearn-bench/core';
import { blobsDataset, createTestContext, describeUnlearnerConformance, mlpTestModel } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accuracy, inputsTensor } from '@unlearn-bench/core';
import { scrubUnlearner, type ScrubOptions } from './index.ts';

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

/** Mean KL(teacher ‖ student) of the softmax outputs over `examples`. */
const meanKl = (teacher: ClassifierModel, student: ClassifierModel, examples: Examples) =>
  tf.tidy(() => {
    const x = inputsTensor(examples);
    const logT = tf.logSoftmax(teacher.logits(x));
    const logS = tf.logSoftmax(student.logits(x));
    return tf.mean(tf.sum(tf.mul(tf.exp(logT), tf.sub(logT, logS)), 1)).dataSync()[0];
  });

const defaults: ScrubOptions = { maxSteps: 2, epochs: null, alpha: 0.001, gamma: 0.99, temperature: 4, learningRate: null, batchSize: null, momentum: null };

describeUnlearnerConformance(scrubUnlearner);
describeUnlearnerConformance(scrubUnlearner, { options: { epochs: 1, maxSteps: 1 }, budget: 2, models: ['mlp'] });

describe('core/scrub', () => {
  it('max steps move the student away from the teacher on the forget set; the retain set stays learnt', () => {
    const run = (maxSteps: number) => {
      const ctx = createTestContext(4, 500);
      const student = scrubUnlearner.create({ ...defaults, maxSteps }, ctx).unlearn(input()) as ClassifierModel;
      const result = { used: ctx.meter.used, forgetKl: meanKl(poisoned, student, forget), retainKl: meanKl(poisoned, student, retain), accuracy: accuracy(student, test) };
      student.dispose();
      return result;
    };
    const scrub = run(2);
    const minOnly = run(0);
    expect(scrub.used).toBe(500);
    expect(scrub.forgetKl).toBeGreaterThan(2 * minOnly.forgetKl);
    expect(scrub.accuracy).toBeGreaterThan(0.9);
  });

  it('runs max passes only in the first maxSteps epochs, and stops after `epochs`', () => {
    const spent = (options: Partial<ScrubOptions>) => {
      const ctx = createTestContext(4, 10_000);
      weightsOf(scrubUnlearner.create({ ...defaults, ...options }, ctx).unlearn(input()) as ClassifierModel);
      return ctx.meter.used;
    };
    expect(spent({ epochs: 1, maxSteps: 1 })).toBe(20 + 380);
    expect(spent({ epochs: 3, maxSteps: 2 })).toBe(2 * 20 + 3 * 380);
    expect(spent({ epochs: 2, maxSteps: 0 })).toBe(2 * 380);
  });

  it('with a tight budget gives the max pass at most half of it', () => {
    const ctx = createTestContext(4, 30);
    weightsOf(scrubUnlearner.create({ ...defaults, maxSteps: 5 }, ctx).unlearn(input()) as ClassifierModel);
    expect(ctx.meter.used).toBe(30);
  });
});
