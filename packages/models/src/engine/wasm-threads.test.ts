/**
 * The threaded wasm build (wasm-threads.ts) in Node: it starts with 2 threads, binds the SIMD
 * kernels' shared-memory build, and computes what the cpu backend computes. (Vitest runs each test
 * file in its own process, so this file's wasm is the threaded one and the other files' is not.)
 */
import '@tensorflow/tfjs'; // gradient functions
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { createBudgetMeter, createRng, silentLogger, type PluginContext } from '@unlearn-bench/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { cnnSmallModel } from '../cnn-small/index.ts';
import { simdKernels } from './simd-kernels.ts';
import { registerWasmKernels } from './wasm-kernels.ts';
import { initWasmBackend, threadedWasmUnavailable } from './wasm-threads.ts';
import type { WasmBackend } from './wasm-util.ts';

function normal(n: number, seed: number): Float32Array {
  return createRng(seed).normalArray(n);
}

/** Largest |actual − expected| relative to expected's largest entry. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  return worst / Math.max(scale, 1e-12);
}

async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  if (backend === 'cpu') (tf.backend() as { firstUse?: boolean }).firstUse = false;
  const result = tf.tidy(f);
  const list = Array.isArray(result) ? result : [result];
  const values = list.map((t) => t.dataSync() as Float32Array);
  tf.dispose(list);
  return values;
}

describe('threaded wasm in Node', () => {
  beforeAll(async () => {
    expect(threadedWasmUnavailable()).toBeUndefined();
    registerWasmKernels();
    expect(await initWasmBackend(2)).toBe(true);
  });

  it('runs 2 threads on a shared memory, with the SIMD kernels bound to it', () => {
    expect(getThreadsCount()).toBe(2);
    const wasm = tf.backend() as WasmBackend;
    expect(wasm.wasm.wasmMemory?.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(simdKernels(wasm)).toBeDefined();
  });

  it('gradient kernels agree with cpu on cnn-small shapes', async () => {
    const x1 = normal(2 * 16 * 16 * 3, 1);
    const dy1 = normal(2 * 16 * 16 * 32, 2);
    const x2 = normal(2 * 8 * 8 * 32, 3);
    const dy2 = normal(2 * 8 * 8 * 64, 4);
    const w2 = normal(3 * 3 * 32 * 64, 5);
    const conv = { strides: 1, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined } as const;
    const run = () => {
      const pooled = tf.maxPool(tf.tensor4d(x2, [2, 8, 8, 32]), 2, 2, 'valid');
      return [
        tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(x1, [2, 16, 16, 3]), dy: tf.tensor4d(dy1, [2, 16, 16, 32]) }, {
          ...conv,
          filterShape: [3, 3, 3, 32],
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
        tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(x2, [2, 8, 8, 32]), dy: tf.tensor4d(dy2, [2, 8, 8, 64]) }, {
          ...conv,
          filterShape: [3, 3, 32, 64],
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
        tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor4d(dy2, [2, 8, 8, 64]), filter: tf.tensor4d(w2, [3, 3, 32, 64]) }, {
          ...conv,
          inputShape: [2, 8, 8, 32],
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
        tf.engine().runKernel('MaxPoolGrad', { dy: tf.onesLike(pooled), input: tf.tensor4d(x2, [2, 8, 8, 32]), output: pooled }, {
          filterSize: 2,
          strides: 2,
          pad: 'valid',
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
        tf.sum(tf.tensor4d(dy2, [2, 8, 8, 64]), [0, 1, 2]),
        tf.matMul(tf.tensor2d(x1.subarray(0, 64 * 24), [64, 24]), tf.tensor2d(dy1.subarray(0, 64 * 40), [64, 40]), true, false),
      ];
    };
    const expected = await on('cpu', run);
    const actual = await on('wasm', run);
    const names = ['filter grad conv1', 'filter grad conv2', 'input grad conv2', 'MaxPoolGrad', 'Sum', 'BatchMatMul'];
    expected.forEach((e, i) => expect(relativeError(actual[i], e), names[i]).toBeLessThan(1e-5));
  });

  it("cnn-small's parameter and input gradients match cpu, and nothing leaks", async () => {
    const shape = [16, 16, 3];
    const x = normal(4 * 16 * 16 * 3, 7);
    const labels = Int32Array.from({ length: 4 }, (_, i) => (i * 3) % 10);
    const gradients = async (backend: 'cpu' | 'wasm'): Promise<Float32Array[]> => {
      await tf.setBackend(backend);
      const model = cnnSmallModel.create({ width: 32, dense: 128 }, { inputShape: shape, numClasses: 10 }, benchContext()).build(createRng(1));
      const before = tf.memory().numTensors;
      const values = await on(backend, () => {
        const input = tf.tensor4d(x, [4, ...shape] as [number, number, number, number]);
        const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
        const loss = (inp: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, model.logits(inp), undefined, undefined, tf.Reduction.SUM) as tf.Scalar;
        const { grads } = tf.variableGrads(() => loss(input), model.parameters() as tf.Variable[]);
        return [...model.parameters().map((v) => grads[v.name]), tf.grad(loss)(input)];
      });
      expect(tf.memory().numTensors, `${backend} leaked tensors`).toBe(before);
      model.dispose();
      return values;
    };
    const expected = await gradients('cpu');
    const actual = await gradients('wasm');
    expect(actual).toHaveLength(9);
    expected.forEach((e, i) => expect(relativeError(actual[i], e), `gradient ${i}`).toBeLessThan(1e-4));
  });
});

/** The plugin context a model factory gets (cnn-small uses none of it). */
function benchContext(): PluginContext {
  return { rng: createRng(0), logger: silentLogger, engine: { backend: 'wasm', reason: 'benchmark', threads: 1 }, meter: createBudgetMeter() };
}
