import * as tf from '@tensorflow/tfjs-core';
import { accuracy, inputsTensor, type ClassifierModel, type Examples, type ModelFactory } from '@unlearn-bench/core';
import { createTestContext, describeUnlearnerConformance } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPoisonedFixture, training, weightsOf } from '../test-fixture.ts';
import { scrubUnlearner, type ScrubOptions } from './index.ts';

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
