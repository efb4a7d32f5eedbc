/**
 * The fused kernels that run with the native ones (fused-ops.ts, native-kernels.ts, core's SGD and
 * cross-entropy kernels): bit-identical to the separate ops where they promise it, close to the cpu
 * backend, right at second order, independent of the thread count, free of leaks, and gone when
 * the native kernels are off. Without the addon these tests skip and say why, except under
 * UNLEARN_BENCH_REQUIRE_NATIVE=1 (set by .ci/run), where they fail.
 */
import '@tensorflow/tfjs'; // gradient functions
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  createBudgetMeter,
  createExamples,
  createOptimizer,
  createRng,
  crossEntropyPerExample,
  silentLogger,
  SGD_UPDATE_KERNEL,
  SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL,
  SOFTMAX_CROSS_ENTROPY_KERNEL,
  trainSgd,
  type OptimizerRecipe,
} from '@unlearn-bench/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { mlpModel } from '../mlp/index.ts';
import { conv2dSameOp, denseOp, type Activation } from './fused-ops.ts';
import { createEngine } from './index.ts';
import { configureNativeKernels, loadNativeAddon, RELU_GRAD_KERNEL } from './native-kernels.ts';
import { nativeKernelsActive, useNativeKernels } from './wasm-kernels.ts';
import type { WasmBackend } from './wasm-util.ts';

const addon = loadNativeAddon();
const skip = !addon.ok && process.env.UNLEARN_BENCH_REQUIRE_NATIVE !== '1';

function normal(shape: number[], seed: number, scale = 1): tf.Tensor {
  return tf.tensor(createRng(seed).normalArray(tf.util.sizeFromShape(shape)).map((v) => v * scale), shape);
}

/** Whether two arrays hold the same bits. */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Largest |a − b| relative to b's largest entry. */
function relativeError(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
  }
  return worst / Math.max(scale, 1e-12);
}

function values(f: () => tf.Tensor | tf.Tensor[]): Float32Array[] {
  const result = tf.tidy(f);
  const list = Array.isArray(result) ? result : [result];
  const out = list.map((t) => t.dataSync() as Float32Array);
  tf.dispose(list);
  return out;
}

async function onCpu(f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend('cpu');
  (tf.backend() as { firstUse?: boolean }).firstUse = false;
  try {
    return values(f);
  } finally {
    await tf.setBackend('wasm');
  }
}

/** The separate ops the fused layers replace (what runs without the native kernels). */
function separateDense(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, activation: Activation): tf.Tensor {
  const y = tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b);
  return activation === 'relu' ? tf.relu(y) : y;
}

function separateConv(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, activation: Activation): tf.Tensor {
  const y = tf.add(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), b);
  return activation === 'relu' ? tf.relu(y) : y;
}

describe.skipIf(skip)(`fused kernels${addon.ok ? '' : ` (unavailable: ${addon.ok ? '' : addon.why})`}`, () => {
  beforeAll(async () => {
    if (!addon.ok) throw new Error(addon.why);
    await createEngine({ backend: 'wasm', threads: 2 });
    expect(nativeKernelsActive()).toBe(true);
  });

  // Shapes: the mlp's first layer, odd sizes, one example; cnn-small's second convolution, odd
  // image sizes, a single channel in.
  const DENSE: [number[], number[], Activation][] = [
    [[64, 784], [784, 512], 'relu'],
    [[33, 20], [20, 17], 'linear'],
    [[1, 7], [7, 3], 'relu'],
  ];
  const CONV: [number[], number[], Activation][] = [
    [[2, 8, 8, 32], [3, 3, 32, 64], 'relu'],
    [[2, 9, 7, 1], [3, 3, 1, 5], 'relu'],
    [[1, 5, 6, 3], [3, 3, 3, 4], 'linear'],
  ];

  for (const [kind, cases, fusedOp, separate] of [
    ['dense', DENSE, (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, a: Activation) => denseOp(x as tf.Tensor2D, w, b, a), separateDense],
    ['conv', CONV, (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, a: Activation) => conv2dSameOp(x as tf.Tensor4D, w, b, a), separateConv],
  ] as const) {
    for (const [xShape, wShape, activation] of cases) {
      it(`${kind} ${xShape.join('×')} · ${wShape.join('×')} ${activation}: the separate ops' bits, values and gradients; the cpu backend's within 1e-5`, async () => {
        const x = normal(xShape, 1);
        const w = normal(wShape, 2, 0.3);
        const b = normal([wShape.at(-1)!], 3);
        const y = fusedOp(x, w, b, activation);
        const r = normal(y.shape, 4);
        y.dispose();
        const run = (op: typeof separate) => () => [
          op(x, w, b, activation),
          ...tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(op(xx, ww, bb, activation), r)))([x, w, b]),
        ];
        const fused = values(run(fusedOp));
        const split = values(run(separate));
        fused.forEach((v, i) => expect(sameBits(v, split[i]), `result ${i}`).toBe(true));
        const cpu = await onCpu(run(fusedOp)); // the cpu backend runs the separate ops
        fused.forEach((v, i) => expect(relativeError(v, cpu[i]), `cpu, result ${i}`).toBeLessThan(1e-5));
        tf.dispose([x, w, b, r]);
      });
    }
  }

  it('a gradient of a gradient through fused dense + ReLU layers equals the separate ops’', () => {
    const x = normal([6, 5], 5);
    const w1 = normal([5, 8], 6);
    const b1 = normal([8], 7);
    const w2 = normal([8, 3], 8);
    const b2 = normal([3], 9);
    // ∇ₓ of a function of ∇_w1 (as gradient matching differentiates): needs the path through the saved x.
    const secondOrder = (op: typeof separateDense) => () =>
      tf.grad((xx: tf.Tensor) => {
        const [g] = tf.grads((ww: tf.Tensor) => tf.sum(tf.square(op(op(xx, ww, b1, 'relu'), w2, b2, 'linear'))))([w1]);
        return tf.sum(tf.square(g));
      })(x);
    const fused = values(secondOrder((a, b, c, d) => denseOp(a as tf.Tensor2D, b, c, d)));
    const split = values(secondOrder(separateDense));
    expect(relativeError(fused[0], split[0])).toBeLessThan(1e-6);
    expect(Math.max(...fused[0].map(Math.abs))).toBeGreaterThan(0);
    tf.dispose([x, w1, b1, w2, b2]);
  });

  it('the ReLU gradient kernel gives dy · step(y) bit for bit, NaN, ±0 and ±∞ included, over many parts', () => {
    const special = [Number.NaN, 0, -0, 1, -1, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-40, -1e-40];
    const n = 200_003; // more than three parts of 2¹⁶
    const rng = createRng(10);
    const yv = Float32Array.from({ length: n }, (_, i) => (i < special.length ? special[i] : rng.normal()));
    const dyv = Float32Array.from({ length: n }, (_, i) => (i < special.length ? -2 : rng.normal()));
    const y = tf.tensor(yv);
    const dy = tf.tensor(dyv);
    const [kernel] = values(() => tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, y }) as tf.Tensor);
    const [composite] = values(() => tf.mul(dy, tf.step(y)));
    expect(sameBits(kernel, composite)).toBe(true);
    expect(Number.isNaN(kernel[0])).toBe(true);
    tf.dispose([y, dy]);
  });

  const RECIPES: [string, OptimizerRecipe][] = [
    ['momentum', { learningRate: 0.01, momentum: 0.9, weightDecay: 0 }],
    ['no momentum', { learningRate: 0.1, momentum: 0, weightDecay: 0 }],
    ['nesterov + coupled decay', { learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: true }],
    ['decoupled decay', { learningRate: 0.03, momentum: 0.5, weightDecay: 0.01, decoupledWeightDecay: true }],
  ];

  for (const [name, recipe] of RECIPES) {
    it(`the SGD kernel takes the composite's steps bit for bit (${name}, with update noise; in place, and with a clone holding the data)`, () => {
      let calls = 0;
      const run = (keepClone: boolean): { arrays: Float32Array[]; inPlace: boolean } => {
        const [w, v] = tf.tidy(() => [tf.variable(normal([70_001], 11), true, `sgd-w-${name}-${calls}`), tf.variable(normal([3, 4], 12), true, `sgd-v-${name}-${calls++}`)]);
        // A clone shares w's data (share-data.ts): the step must then leave it as it was.
        const before = keepClone ? tf.clone(w) : undefined;
        const optimizer = createOptimizer(recipe, [w, v]);
        let inPlace = true;
        for (let step = 0; step < 3; step++) {
          const dataId = w.dataId;
          tf.tidy(() => {
            const grads = { [w.name]: normal([70_001], 20 + step), [v.name]: normal([3, 4], 30 + step) };
            const noise = step === 1 ? { [v.name]: normal([3, 4], 40, 0.01) } : undefined;
            optimizer.step(grads, noise ? { updateNoise: noise } : undefined);
          });
          inPlace &&= w.dataId === dataId;
        }
        const arrays = [w.dataSync() as Float32Array, v.dataSync() as Float32Array, ...Object.values(optimizer.state())];
        if (before) arrays.push(before.dataSync() as Float32Array);
        optimizer.dispose();
        tf.dispose([w, v, ...(before ? [before] : [])]);
        return { arrays, inPlace };
      };
      const tensors = tf.memory().numTensors;
      const alone = run(false);
      const shared = run(true);
      expect(tf.memory().numTensors).toBe(tensors);
      const composite = runWithout(SGD_UPDATE_KERNEL, () => run(true));
      expect([alone.inPlace, shared.inPlace, composite.inPlace]).toEqual([true, false, false]);
      expect(shared.arrays.length).toBe(composite.arrays.length);
      shared.arrays.forEach((values, i) => expect(sameBits(values, composite.arrays[i]), `array ${i}`).toBe(true));
      alone.arrays.forEach((values, i) => expect(sameBits(values, composite.arrays[i]), `in place, array ${i}`).toBe(true));
      // The clone kept the initial values.
      expect(sameBits(shared.arrays.at(-1)!, shared.arrays[0])).toBe(false);
      const initial = tf.tidy(() => normal([70_001], 11).dataSync() as Float32Array);
      expect(sameBits(shared.arrays.at(-1)!, initial)).toBe(true);
    });
  }

  it('the cross-entropy kernels: the composite loss within 1 ulp-scale, gradients, second order, labels outside the classes', () => {
    const z = normal([70, 10], 13, 4) as tf.Tensor2D;
    const y = tf.tensor1d(Int32Array.from({ length: 70 }, (_, i) => (i === 3 ? 10 : i === 4 ? -1 : (i * 7) % 10)), 'int32');
    const weights = tf.range(1, 71);
    const first = () => [
      crossEntropyPerExample(z, y),
      tf.grad((zz: tf.Tensor) => tf.sum(tf.mul(crossEntropyPerExample(zz as tf.Tensor2D, y), weights)))(z),
    ];
    const [loss, grad] = values(first);
    const [loss0, grad0] = runWithout(SOFTMAX_CROSS_ENTROPY_KERNEL, () => values(first));
    expect(relativeError(loss, loss0)).toBeLessThan(1e-6);
    expect(relativeError(grad, grad0)).toBeLessThan(1e-6);
    expect([loss[3], loss[4]]).toEqual([0, 0]); // no class: no term, as a one-hot of the label gives
    // Second order against a twice-differentiable composite (logSumExp(z) − z_y).
    const inRange = tf.tensor1d(Int32Array.from({ length: 70 }, (_, i) => (i * 3) % 10), 'int32');
    const [second] = values(() =>
      tf.grad((zz: tf.Tensor) => tf.sum(tf.square(tf.grad((v: tf.Tensor) => tf.sum(tf.mul(crossEntropyPerExample(v as tf.Tensor2D, inRange), weights)))(zz))))(z),
    );
    const [expected] = values(() =>
      tf.grad((zz: tf.Tensor) =>
        tf.sum(tf.square(tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.sub(tf.logSumExp(v, 1), tf.sum(tf.mul(tf.oneHot(inRange, 10), v), 1)), weights)))(zz))),
      )(z),
    );
    expect(relativeError(second, expected)).toBeLessThan(1e-5);
    expect(tf.getKernel(SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL, 'wasm')).toBeDefined();
    tf.dispose([z, y, weights, inRange]);
  });

  it('trains the mlp to the same bits with 1 and 2 threads, and leaks nothing', () => {
    const rng = createRng(14);
    const data = createExamples(rng.normalArray(200 * 12), Int32Array.from({ length: 200 }, () => rng.int(4)), [3, 4, 1]);
    const shape = { inputShape: [3, 4, 1], numClasses: 4 };
    const ctx = { rng: createRng(0), logger: silentLogger, engine: { backend: 'wasm' as const, reason: 'test', threads: 2 }, meter: createBudgetMeter() };
    const train = (): Float32Array[] => {
      const model = mlpModel.create({ hidden: [64, 32] }, shape, ctx).build(createRng(1));
      trainSgd(model, data, { epochs: 2, batchSize: 32, learningRate: 0.05, momentum: 0.9, weightDecay: 0, rng: createRng(2), meter: createBudgetMeter() });
      const weights = model.getWeights();
      model.dispose();
      return weights;
    };
    const tensors = tf.memory().numTensors;
    const dataIds = (tf.backend() as WasmBackend).numDataIds(); // the in-place SGD step shares data ids
    try {
      configureNativeKernels(1);
      const one = train();
      configureNativeKernels(2);
      const two = train();
      one.forEach((w, i) => expect(sameBits(w, two[i]), `weights ${i}`).toBe(true));
      expect(tf.memory().numTensors).toBe(tensors);
      expect((tf.backend() as WasmBackend).numDataIds()).toBe(dataIds);
    } finally {
      configureNativeKernels(2);
    }
  });

  it('are taken off with the native kernels: the layers, optimizer and loss run the separate ops', async () => {
    const names = [RELU_GRAD_KERNEL, SGD_UPDATE_KERNEL, SOFTMAX_CROSS_ENTROPY_KERNEL, SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL];
    const x = normal([4, 6], 15);
    const w = normal([6, 3], 16);
    const b = normal([3], 17);
    try {
      useNativeKernels(false);
      expect(names.map((name) => tf.getKernel(name, 'wasm'))).toEqual([undefined, undefined, undefined, undefined]);
      const profile = await tf.profile(() => tf.dispose(denseOp(x as tf.Tensor2D, w, b, 'relu')));
      expect(profile.kernelNames).toEqual(['BatchMatMul', 'Add', 'Relu']);
    } finally {
      useNativeKernels(true);
    }
    expect(names.every((name) => tf.getKernel(name, 'wasm') !== undefined)).toBe(true);
    tf.dispose([x, w, b]);
  });
});

/** Runs `f` with `kernelName` off on wasm (the composite path), restoring it after. */
function runWithout<T>(kernelName: string, f: () => T): T {
  const config = tf.getKernel(kernelName, 'wasm')!;
  tf.unregisterKernel(kernelName, 'wasm');
  try {
    return f();
  } finally {
    tf.registerKernel(config);
  }
}
