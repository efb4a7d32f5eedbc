import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { createBudgetMeter } from '../budget.ts';
import { createExamples, type Examples } from '../data.ts';
import { createRng } from '../rng.ts';
import { createTestContext, linearModel, mlpTestModel } from '../testing/index.ts';
import { crossEntropy, crossEntropyPerExample, inputGradients, inputsTensor, labelsTensor, perExampleLoss, trainSgd } from '../training.ts';
import { computeProblem, createComputeCounter, sameWeights } from './metered-model.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const RECIPE = { epochs: 2, batchSize: 7, learningRate: 0.05, momentum: 0.9, weightDecay: 0 };

function examples(count: number, seed: number): Examples {
  const rng = createRng(seed);
  return createExamples(rng.normalArray(count * 6, 1), Int32Array.from({ length: count }, (_, i) => i % 3), [6]);
}

const factory = mlpTestModel.create({ hidden: 5 }, { inputShape: [6], numClasses: 3 }, createTestContext());

describe('createComputeCounter', () => {
  it('counts every example of an SGD run through a clone: epochs × n, equal to the meter', () => {
    const data = examples(30, 1);
    const base = factory.build(createRng(2));
    const counter = createComputeCounter();
    const meter = createBudgetMeter();
    const model = counter.model(base);
    const copy = counter.run(() => {
      const copy = model.clone();
      trainSgd(copy, data, { ...RECIPE, rng: createRng(3), meter });
      return copy;
    });
    expect(counter.examples).toBe(2 * 30);
    expect(meter.used).toBe(2 * 30);
    expect(computeProblem(counter.examples, meter.used, 60)).toBeUndefined();
    // The training changed the clone, not the model it came from; unwrap gives the plain clone.
    expect(sameWeights(counter.unwrap(copy), base)).toBe(false);
    expect(counter.unwrap(model)).toBe(base);
    counter.unwrap(copy).dispose();
    base.dispose();
  });

  it('does not count a forward pass off the differentiated path (a frozen teacher), nor forward-only passes', () => {
    const data = examples(10, 4);
    const counter = createComputeCounter();
    const model = counter.model(factory.build(createRng(5)));
    counter.run(() => {
      const teacher = model.clone();
      const student = model.clone();
      tf.tidy(() => {
        const x = inputsTensor(data);
        const y = labelsTensor(data);
        // KL-like term against the teacher plus cross-entropy: gradients only for the student.
        tf.variableGrads(() => tf.add(crossEntropy(student.logits(x), y), tf.mean(tf.square(tf.sub(student.logits(x), teacher.logits(x))))) as tf.Scalar, student.parameters() as tf.Variable[]);
      });
      perExampleLoss(student, data);
      perExampleLoss(teacher, data);
      teacher.dispose();
      student.dispose();
    });
    // The student saw x twice in one gradient computation: 10 examples, not 20; the teacher none.
    expect(counter.examples).toBe(10);
    model.dispose();
  });

  it('counts two batches of one loss (NegGrad+-style), input gradients, and models from the factory', () => {
    const retain = examples(12, 6);
    const forget = examples(5, 7);
    const counter = createComputeCounter();
    const built = counter.factory(factory);
    counter.run(() => {
      const model = built.build(createRng(8));
      tf.tidy(() => {
        tf.variableGrads(
          () => tf.sub(crossEntropy(model.logits(inputsTensor(retain)), labelsTensor(retain)), crossEntropy(model.logits(inputsTensor(forget)), labelsTensor(forget))) as tf.Scalar,
          model.parameters() as tf.Variable[],
        );
      });
      expect(counter.examples).toBe(17);
      inputGradients(model, forget);
      expect(counter.examples).toBe(22);
      // Differentiating with respect to the first layer only still runs the whole network.
      const first = model.layers()[0].parameters as tf.Variable[];
      tf.tidy(() => tf.variableGrads(() => crossEntropy(model.logits(inputsTensor(forget)), labelsTensor(forget)), first));
      expect(counter.examples).toBe(27);
      model.dispose();
    });
  });

  it("hides a model's own input-gradient pass, so that inputGradients goes through tf.grad and is counted", () => {
    const forget = examples(5, 7);
    const counter = createComputeCounter();
    const base = factory.build(createRng(9));
    let ownCalls = 0;
    // A model with its own backward pass (as core/mlp has), which the runner could not see.
    const fast = new Proxy(base, {
      get: (target, property) =>
        property === 'inputLossGradient'
          ? (x: tf.Tensor, y: tf.Tensor1D) => {
              ownCalls++;
              return tf.grad((input: tf.Tensor) => crossEntropyPerExample(target.logits(input), y))(x, tf.onesLike(y).toFloat());
            }
          : Reflect.get(target, property, target),
    });
    const model = counter.model(fast);
    expect(model.inputLossGradient).toBeUndefined();
    counter.run(() => inputGradients(model, forget));
    expect(ownCalls).toBe(0);
    expect(counter.examples).toBe(5);
    inputGradients(fast, forget);
    expect(ownCalls).toBe(1);
    base.dispose();
  });

  it('sees compute hidden from ctx.meter (a private meter) and reports it clearly', () => {
    const data = examples(20, 9);
    const counter = createComputeCounter();
    const ctx = createTestContext(0, 40);
    const model = counter.model(linearModel.create({}, { inputShape: [6], numClasses: 3 }, ctx).build(createRng(1)));
    const result = counter.run(() => {
      const copy = model.clone();
      trainSgd(copy, data, { ...RECIPE, epochs: 20, rng: createRng(2), meter: createBudgetMeter() });
      return copy;
    });
    expect(ctx.meter.used).toBe(0);
    expect(counter.examples).toBe(400);
    expect(computeProblem(counter.examples, ctx.meter.used, 40)).toMatchInlineSnapshot(
      `"the runner counted 400 examples through forward+backward passes of the model it was given (and its clones), over the budget of 40 (every example whose loss is differentiated through the model counts 1)"`,
    );
    expect(computeProblem(30, 0, 40)).toMatchInlineSnapshot(
      `"the runner counted 30 examples through forward+backward passes of the model it was given (and its clones), but ctx.meter reports 0: spend every such example on ctx.meter (every example whose loss is differentiated through the model counts 1)"`,
    );
    result.dispose();
    model.dispose();
  });

  it('watches gradients only while run() lasts, also for a promise and after a throw', async () => {
    const data = examples(8, 10);
    const gradients = tf.engine().gradients;
    const counter = createComputeCounter();
    const model = counter.model(factory.build(createRng(11)));
    const step = () => tf.tidy(() => tf.variableGrads(() => crossEntropy(model.logits(inputsTensor(data)), labelsTensor(data)), model.parameters() as tf.Variable[]).value);
    step().dispose();
    expect(counter.examples).toBe(0);
    expect(() =>
      counter.run(() => {
        step().dispose();
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(tf.engine().gradients).toBe(gradients);
    await counter.run(async () => {
      await Promise.resolve();
      step().dispose();
    });
    expect(tf.engine().gradients).toBe(gradients);
    expect(counter.examples).toBe(16);
    step().dispose();
    expect(counter.examples).toBe(16);
    model.dispose();
  });

  it('keeps the wrapped model usable as the model: capabilities, layers, weights, disposal', () => {
    const base = factory.build(createRng(12));
    const before = tf.memory().numTensors;
    const counter = createComputeCounter();
    const model = counter.model(base);
    expect(model.capabilities).toBe(base.capabilities);
    expect(model.parameters()).toBe(base.parameters());
    expect(model.layers().map((l) => l.name)).toEqual(['dense1', 'dense2']);
    const copy = model.clone();
    expect(sameWeights(copy, base)).toBe(true);
    expect(counter.model(copy)).toBe(copy);
    copy.dispose();
    expect(tf.memory().numTensors).toBe(before);
    base.dispose();
  });
});
