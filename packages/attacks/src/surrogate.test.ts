import * as tf from '@tensorflow/tfjs-core';
import { createBudgetMeter, createRng, silentLogger, type ClassifierModel, type ModelFactory, type PluginContext } from '@unlearn-bench/core';
import { cnnSmallModel, createEngine, mlpModel } from '@unlearn-bench/models';
import { afterAll, describe, expect, it } from 'vitest';
import { exactObjectiveInputGradient, mixedInputGradient, parameterGradient } from './surrogate.ts';

const context: PluginContext = { rng: createRng(0), logger: silentLogger, engine: { backend: 'wasm', reason: 'test', threads: 1 }, meter: createBudgetMeter() };
const shape = { inputShape: [8, 8, 1], numClasses: 4 };
const factories: [string, ModelFactory][] = [
  ['softmax regression', mlpModel.create({ hidden: [] }, shape, context)],
  ['an MLP [16]', mlpModel.create({ hidden: [16] }, shape, context)],
  ['a CNN (cnn-small, width 2)', cnnSmallModel.create({ width: 2, dense: 8 }, shape, context)],
];

/** The attacks' objectives on real gradients: matching's 1 − cos(g, t) (t: another image's gradient) and canceling's ‖c + g‖² (c = −0.8·g(x)). */
function objectives(model: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D) {
  const targetX = tf.tensor(createRng(8).normalArray(64).map((v) => 0.5 + 0.2 * v), [1, 8, 8, 1]);
  const targetY = tf.tensor1d([1], 'int32');
  const t = parameterGradient(model, targetX, targetY);
  const c = tf.tidy(() => tf.mul(parameterGradient(model, x, y), -0.8));
  tf.dispose([targetX, targetY]);
  return {
    constants: [t, c],
    list: [
      (g: tf.Tensor1D) => tf.sub(1, tf.div(tf.sum(tf.mul(g, t)), tf.mul(tf.norm(g), tf.norm(t)))) as tf.Scalar,
      (g: tf.Tensor1D) => tf.sum(tf.square(tf.add(c, g))) as tf.Scalar,
    ],
  };
}

/** ⟨∇ₓF, u⟩ by double backprop and (F(x + hu) − F(x − hu)) / 2h from first-order gradients only. */
function directional(model: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D, objective: (g: tf.Tensor1D) => tf.Scalar, u: tf.Tensor, h: number) {
  const { gradient } = exactObjectiveInputGradient(model, x, y, objective);
  const exact = tf.tidy(() => tf.sum(tf.mul(gradient, u)).dataSync()[0]);
  const at = (input: tf.Tensor) => tf.tidy(() => objective(parameterGradient(model, input, y)).dataSync()[0]);
  const fd = tf.tidy(() => (at(tf.add(x, tf.mul(u, h))) - at(tf.sub(x, tf.mul(u, h)))) / (2 * h));
  gradient.dispose();
  return { exact, fd };
}

afterAll(async () => {
  await createEngine({ backend: 'wasm' });
});

// The second derivative by double backprop against central finite differences of first-order
// gradients, in float32 on real models: error below 1% (measured: below 0.5%). tfjs-core's own
// registrations give errors of order 1 (MLP) or throw (CNN: no gradient for Conv2DBackpropFilter).
// Along a random direction for the smooth models (softmax regression; the MLP's ReLU pattern does not
// change within h = 1e-3); along single pixels for the CNN, whose max-pooling arg-max and ReLU pattern
// change within a step of h along a dense direction (the difference quotient then jumps).
describe.each(['wasm', 'cpu'] as const)('double backprop on %s', (backend) => {
  it.each(factories)('%s: ∇ₓ of 1 − cos(∇θL, t) and of ‖c + ∇θL‖² match finite differences', async (name, factory) => {
    await createEngine({ backend });
    const model = factory.build(createRng(3));
    const before = tf.memory().numTensors;
    const x = tf.tensor(createRng(4).normalArray(3 * 64).map((v) => 0.5 + 0.2 * v), [3, 8, 8, 1]);
    const y = tf.tensor1d([0, 2, 3], 'int32');
    const { constants, list } = objectives(model, x, y);
    const cnn = name.includes('CNN');
    const directions = cnn ? [10, 77, 150].map((pixel) => tf.tidy(() => tf.reshape(tf.oneHot(tf.tensor1d([pixel], 'int32'), x.size), x.shape))) : [tf.tensor(createRng(13).normalArray(x.size), x.shape)];
    for (const objective of list) {
      const pairs = directions.map((u) => directional(model, x, y, objective, u, cnn ? 3e-3 : 1e-3));
      const scale = Math.max(...pairs.map((p) => Math.abs(p.exact)));
      for (const { exact, fd } of pairs) expect(Math.abs(exact - fd)).toBeLessThan(0.01 * scale);
    }
    // The value is the first-order path's loss (logSumExp form vs tf.logSoftmax, to rounding).
    const value = exactObjectiveInputGradient(model, x, y, list[1]);
    value.gradient.dispose();
    expect(value.value).toBeCloseTo(tf.tidy(() => list[1](parameterGradient(model, x, y)).dataSync()[0]), 3);
    tf.dispose([x, y, ...constants, ...directions]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('the finite-difference option', () => {
  it('approximates the exact mixed derivative ∇ₓ⟨∇θL, d⟩ (MLP, wasm)', async () => {
    await createEngine({ backend: 'wasm' });
    const model = factories[1][1].build(createRng(5));
    const x = tf.tensor(createRng(6).normalArray(2 * 64).map((v) => 0.5 + 0.2 * v), [2, 8, 8, 1]);
    const y = tf.tensor1d([1, 3], 'int32');
    const size = model.parameters().reduce((sum, v) => sum + v.size, 0);
    const d = tf.tensor1d(createRng(7).normalArray(size));
    const { gradient } = exactObjectiveInputGradient(model, x, y, (g) => tf.sum(tf.mul(g, d)) as tf.Scalar);
    const norm = Math.sqrt(model.parameters().reduce((sum, v) => sum + tf.tidy(() => tf.sum(tf.square(v)).dataSync()[0]), 0));
    const fd = mixedInputGradient(model, x, y, d, 1e-3 * norm);
    const error = tf.tidy(() => tf.div(tf.norm(tf.sub(fd, gradient)), tf.norm(gradient)).dataSync()[0]);
    expect(error).toBeLessThan(0.05);
    tf.dispose([x, y, d, gradient, fd]);
    model.dispose();
  });
});
