/**
 * The native OpenBLAS kernels (native-kernels.ts, ../../native/unlearn_blas.c) against the wasm
 * kernels they replace, the cpu backend, and finite differences, on the threaded wasm build (its
 * heap is a SharedArrayBuffer). Without the addon these tests skip and say why, except under
 * UNLEARN_BENCH_REQUIRE_NATIVE=1 (set by .ci/run), where they fail.
 */
import '@tensorflow/tfjs'; // gradient functions
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createRng, engineKey } from '@unlearn-bench/core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createEngine } from './index.ts';
import { configureNativeKernels, loadAddonFrom, loadNativeAddon, NATIVE_HINT, openblasCoreType, openblasVersionAndCore } from './native-kernels.ts';
import { nativeKernelsActive, registerWasmKernels, useNativeKernels } from './wasm-kernels.ts';
import { initWasmBackend } from './wasm-threads.ts';
import type { WasmBackend } from './wasm-util.ts';

const addon = loadNativeAddon();
const required = process.env.UNLEARN_BENCH_REQUIRE_NATIVE === '1';
const skip = !addon.ok && !required;

function normal(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(createRng(seed).normalArray(tf.util.sizeFromShape(shape)), shape);
}

/** Largest |actual − expected| relative to expected's largest entry. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  return worst / Math.max(scale, 1e-12);
}

type Run = 'native' | 'wasm' | 'cpu';

/** Values of `f()` (a tensor or several) on wasm with or without the native kernels, or on cpu. */
async function on(run: Run, f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(run === 'cpu' ? 'cpu' : 'wasm');
  if (run === 'cpu') (tf.backend() as { firstUse?: boolean }).firstUse = false;
  else useNativeKernels(run === 'native');
  try {
    const result = tf.tidy(f);
    const list = Array.isArray(result) ? result : [result];
    const values = list.map((t) => t.dataSync() as Float32Array);
    tf.dispose(list);
    return values;
  } finally {
    if (run !== 'cpu') useNativeKernels(true);
    await tf.setBackend('wasm');
  }
}

/** Checks native against the wasm-only kernels and the cpu backend, and that native really ran. */
async function agree(
  entry: 'sgemm' | 'conv2d' | 'conv2dBackpropInput' | 'conv2dBackpropFilter' | 'maxPool' | 'maxPoolGrad' | 'sumRows',
  f: () => tf.Tensor | tf.Tensor[],
  against: readonly Run[] = ['wasm', 'cpu'],
): Promise<void> {
  if (!addon.ok) throw new Error(addon.why);
  const spy = vi.spyOn(addon.addon, entry);
  const native = await on('native', f);
  expect(spy).toHaveBeenCalled();
  spy.mockRestore();
  for (const run of against) {
    const expected = await on(run, f);
    native.forEach((values, i) => expect(relativeError(values, expected[i]), `${run}, result ${i}`).toBeLessThan(1e-5));
  }
}

describe('native kernel loading', () => {
  it('says how to build the kernels when the addon is missing', () => {
    expect(loadAddonFrom('./no-such-addon.node')).toEqual({
      ok: false,
      why: 'native kernels not built: install libopenblas-dev and run npm run build:native -w @unlearn-bench/models',
    });
    expect(NATIVE_HINT).toBe('install libopenblas-dev and run npm run build:native -w @unlearn-bench/models');
  });

  it('picks OpenBLAS kernels for Intel CPUs by instruction set, leaves other CPUs to OpenBLAS, and reads its core back', () => {
    // /proc/cpuinfo as Linux prints it (the fields used, from this project's machines and an older Xeon).
    const cpu = (vendor: string, flags: string): string => `processor\t: 0\nvendor_id\t: ${vendor}\ncpu family\t: 6\nmodel\t\t: 207\nflags\t\t: fpu sse sse2 ${flags}\n\nprocessor\t: 1\n`;
    const avx512 = 'avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl';
    expect(openblasCoreType(cpu('GenuineIntel', `${avx512} avx512_bf16 amx_tile`))).toBe('Cooperlake');
    expect(openblasCoreType(cpu('GenuineIntel', avx512))).toBe('SkylakeX');
    expect(openblasCoreType(cpu('GenuineIntel', 'avx avx2 fma'))).toBe('Haswell');
    expect(openblasCoreType(cpu('GenuineIntel', 'avx sse4_2'))).toBeUndefined();
    expect(openblasCoreType(cpu('AuthenticAMD', `${avx512} avx512_bf16`))).toBeUndefined();
    expect(openblasCoreType('')).toBeUndefined();
    expect(openblasVersionAndCore('OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64')).toBe('0.3.21 Cooperlake');
    expect(openblasVersionAndCore('OpenBLAS 0.3.26  USE64BITINT DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=128')).toBe('0.3.26 Zen');
    expect(openblasVersionAndCore('OpenBLAS 0.3.21')).toBe('0.3.21');
  });

  it.runIf(required)('is built (UNLEARN_BENCH_REQUIRE_NATIVE=1)', () => {
    expect(addon.ok ? 'built' : addon.why).toBe('built');
  });
});

describe.skipIf(skip)(`native kernels${addon.ok ? '' : ` (unavailable: ${addon.why})`}`, () => {
  beforeAll(async () => {
    if (!addon.ok) throw new Error(addon.why);
    // The engine gives wasm 1 thread under the native kernels; the threaded build (whose heap is a
    // SharedArrayBuffer) is initialised first here so that the kernels are tested on it too.
    registerWasmKernels();
    expect(await initWasmBackend(2)).toBe(true);
    const info = await createEngine({ backend: 'wasm', threads: 2 });
    expect(info.reason).toMatch(/^forced; native BLAS kernels \(OpenBLAS [^,]+, 2 threads\)$/);
    expect(nativeKernelsActive()).toBe(true);
    expect((tf.backend() as WasmBackend).wasm.wasmMemory?.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('BatchMatMul: every transpose, batches, broadcasting', async () => {
    const x = normal([64, 784], 1);
    const w = normal([784, 512], 2);
    const dy = normal([64, 512], 3);
    const a3 = normal([3, 5, 7], 4);
    const b3 = normal([3, 7, 4], 5);
    const a1 = normal([1, 5, 7], 6);
    const b2 = normal([7, 4], 7);
    await agree('sgemm', () => [
      tf.matMul(x, w),
      tf.matMul(x, dy, true, false), // dense kernel gradient
      tf.matMul(dy, w, false, true), // dense input gradient
      tf.matMul(w, x, true, true),
      tf.matMul(a3, b3),
      tf.matMul(b3, a3, true, true),
      tf.matMul(a1, b3),
      tf.matMul(a3, b2),
    ]);
    tf.dispose([x, w, dy, a3, b3, a1, b2]);
  });

  it('_FusedMatMul with bias and ReLU, transposed', async () => {
    const a = normal([33, 20], 8);
    const b = normal([20, 17], 9);
    const bias = normal([17], 10);
    await agree('sgemm', () => [
      tf.fused.matMul({ a, b, bias, activation: 'relu' }),
      tf.fused.matMul({ a, b: tf.transpose(b), transposeB: true, activation: 'relu' }),
    ]);
    // Stock wasm 4.22 gets transposeA with a bias wrong (off by up to 2 here): cpu is the reference.
    await agree('sgemm', () => tf.fused.matMul({ a: tf.transpose(a), b, bias, transposeA: true, activation: 'linear' }), ['cpu']);
    tf.dispose([a, b, bias]);
  });

  // cnn-small's two convolutions (3×3, same, stride 1) at batch 3, then other strides, paddings,
  // dilations and kernel sizes, including 1×1 (which skips im2col). The cpu backend takes seconds
  // on cnn-small's filter gradients, so those two are checked against wasm only (which
  // wasm-threads.test.ts checks against cpu).
  type ConvCase = { name: string; x: number[]; w: number[]; stride: number; pad: 'same' | 'valid' | number; dilation?: number; against?: Run[] };
  const CONVS: ConvCase[] = [
    { name: 'cnn-small conv1 32×32×3 → 32', x: [3, 32, 32, 3], w: [3, 3, 3, 32], stride: 1, pad: 'same', against: ['wasm'] },
    { name: 'cnn-small conv2 16×16×32 → 64', x: [3, 16, 16, 32], w: [3, 3, 32, 64], stride: 1, pad: 'same', against: ['wasm'] },
    { name: 'cnn-small conv2, small', x: [2, 6, 6, 32], w: [3, 3, 32, 64], stride: 1, pad: 'same' },
    { name: '5×5 valid stride 2', x: [2, 13, 11, 4], w: [5, 5, 4, 6], stride: 2, pad: 'valid' },
    { name: '3×3 same stride 2', x: [2, 9, 10, 3], w: [3, 3, 3, 5], stride: 2, pad: 'same' },
    { name: '3×3 explicit padding 2', x: [1, 7, 8, 2], w: [3, 3, 2, 3], stride: 1, pad: 2 },
    { name: '1×1 pointwise', x: [2, 6, 6, 8], w: [1, 1, 8, 5], stride: 1, pad: 'valid' },
    { name: '2×4 dilation 2', x: [2, 11, 12, 3], w: [2, 4, 3, 4], stride: 1, pad: 'same', dilation: 2 },
  ];

  for (const c of CONVS) {
    it(`Conv2D and both gradients: ${c.name}`, async () => {
      const x = normal(c.x, 11) as tf.Tensor4D;
      const w = normal(c.w, 12) as tf.Tensor4D;
      const conv = (xx: tf.Tensor4D, ww: tf.Tensor4D): tf.Tensor4D => tf.conv2d(xx, ww, c.stride, c.pad, 'NHWC', c.dilation ?? 1);
      const y = conv(x, w);
      const r = normal(y.shape, 13);
      y.dispose();
      const against = c.against ?? ['wasm', 'cpu'];
      await agree('conv2d', () => conv(x, w), against);
      // tf.conv2d's gradients are defined for dilation 1 only.
      if (!c.dilation) {
        await agree('conv2dBackpropInput', () => tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(conv(xx as tf.Tensor4D, w), r)))(x), against);
        await agree('conv2dBackpropFilter', () => tf.grad((ww: tf.Tensor) => tf.sum(tf.mul(conv(x, ww as tf.Tensor4D), r)))(w), against);
      }
      tf.dispose([x, w, r]);
    });
  }

  // cnn-small's pools (2×2, stride 2; odd sizes leave a row and a column out), overlapping windows
  // with padding, and ties and NaN: the gradient goes to the first strict maximum, as on cpu.
  const POOLS: { name: string; x: number[]; size: number | [number, number]; stride: number; pad: 'same' | 'valid' }[] = [
    { name: 'cnn-small 2×2 stride 2', x: [3, 16, 16, 32], size: 2, stride: 2, pad: 'valid' },
    { name: '2×2 stride 2, odd sizes, 3 channels', x: [2, 7, 9, 3], size: 2, stride: 2, pad: 'valid' },
    { name: '3×3 stride 1 same (overlapping)', x: [2, 6, 5, 4], size: 3, stride: 1, pad: 'same' },
    { name: '3×2 stride 2 same', x: [1, 7, 6, 5], size: [3, 2], stride: 2, pad: 'same' },
  ];

  for (const p of POOLS) {
    it(`MaxPool and its gradient: ${p.name}`, async () => {
      const values = createRng(31).normalArray(tf.util.sizeFromShape(p.x));
      // Ties, NaN and −∞ in the first image: NaN never wins, a tie goes to the first maximum.
      values.set([1, 1, 1, 1], 0);
      values[p.x[3]] = Number.NaN;
      values[5 * p.x[3] + 1] = Number.NEGATIVE_INFINITY;
      const x = tf.tensor4d(values, p.x as [number, number, number, number]);
      const pool = (xx: tf.Tensor4D): tf.Tensor4D => tf.maxPool(xx, p.size as [number, number] | number, p.stride, p.pad);
      const y = pool(x);
      const r = normal(y.shape, 32);
      y.dispose();
      await agree('maxPool', () => pool(x), ['cpu']);
      await agree('maxPoolGrad', () => tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(pool(xx as tf.Tensor4D), r)))(x), ['wasm', 'cpu']);
      tf.dispose([x, r]);
    });
  }

  it('Sum over leading axes (bias gradients) in float64: matches wasm and cpu; other sums fall back', async () => {
    const x = normal([5, 7, 9, 32], 33);
    const odd = normal([4099, 3], 34); // more than two parts of rows
    await agree('sumRows', () => [tf.sum(x, [0, 1, 2]), tf.sum(x, [0, 1], true), tf.sum(odd, 0)]);
    const [expected] = await on('cpu', () => tf.sum(x, 3));
    const [inner] = await on('native', () => tf.sum(x, 3));
    expect(relativeError(inner, expected)).toBeLessThan(1e-5);
    tf.dispose([x, odd]);
  });

  it('gradients match central finite differences (conv and dense)', async () => {
    await tf.setBackend('wasm');
    const rng = createRng(21);
    const x = normal([2, 9, 9, 3], 14) as tf.Tensor4D;
    const w = normal([3, 3, 3, 4], 15) as tf.Tensor4D;
    const k = normal([5 * 5 * 4, 5], 16); // conv output 5×5×4 (stride 2, same)
    const r = normal([2, 5], 17);
    // Linear in each argument, so central differences are exact up to float32 rounding.
    const loss = (xx: tf.Tensor, ww: tf.Tensor, kk: tf.Tensor): tf.Scalar =>
      tf.tidy(() => tf.sum(tf.mul(tf.matMul(tf.reshape(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 2, 'same'), [2, -1]), kk), r)));
    const grads = tf.grads(loss)([x, w, k]);
    const eps = 1e-2;
    const args = [x, w, k];
    for (let which = 0; which < 3; which++) {
      const base = args[which].dataSync() as Float32Array;
      const analytic = grads[which].dataSync() as Float32Array;
      let scale = 0;
      for (const v of analytic) scale = Math.max(scale, Math.abs(v));
      for (let probe = 0; probe < 6; probe++) {
        const i = rng.int(base.length);
        const shifted = (delta: number): number => {
          const copy = base.slice();
          copy[i] += delta;
          const t = tf.tensor(copy, args[which].shape);
          const inputs = args.map((a, j) => (j === which ? t : a));
          const value = loss(inputs[0], inputs[1], inputs[2]);
          const out = value.dataSync()[0];
          tf.dispose([t, value]);
          return out;
        };
        const numeric = (shifted(eps) - shifted(-eps)) / (2 * eps);
        expect(Math.abs(numeric - analytic[i]) / scale).toBeLessThan(2e-3);
      }
    }
    tf.dispose([x, w, k, r, ...grads]);
  });

  it('gives bit-identical results with 1 and 2 OpenBLAS threads', async () => {
    const x = normal([16, 16, 16, 32], 18) as tf.Tensor4D;
    const w = normal([3, 3, 32, 64], 19) as tf.Tensor4D;
    const a = normal([64, 784], 20);
    const b = normal([784, 512], 21);
    const c = normal([64, 512], 26);
    const run = () =>
      on('native', () => {
        const [dx, dw] = tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.square(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, 'same'))))([x, w]);
        return [dx, dw, tf.matMul(a, b), tf.matMul(a, c, true, false), tf.matMul(c, b, false, true)];
      });
    try {
      configureNativeKernels(1);
      const one = await run();
      configureNativeKernels(2);
      const two = await run();
      one.forEach((values, i) => expect(Buffer.from(values.buffer).equals(Buffer.from(two[i].buffer)), `result ${i}`).toBe(true));
    } finally {
      configureNativeKernels(2);
      tf.dispose([x, w, a, b, c]);
    }
  });

  it('keeps working after the wasm heap grows', async () => {
    await tf.setBackend('wasm');
    const wasm = tf.backend() as WasmBackend;
    const before = wasm.wasm.wasmMemory!.buffer.byteLength;
    const a = normal([40, 30], 22);
    const b = normal([30, 20], 23);
    const first = tf.matMul(a, b);
    const big = tf.zeros([before / 4 + 1]); // more floats than the heap held: it must grow
    expect(wasm.wasm.wasmMemory!.buffer.byteLength).toBeGreaterThan(before);
    const second = tf.matMul(a, b);
    expect(Array.from(second.dataSync())).toEqual(Array.from(first.dataSync()));
    const [expected] = await on('cpu', () => tf.matMul(a, b));
    expect(relativeError(second.dataSync() as Float32Array, expected)).toBeLessThan(1e-5);
    tf.dispose([a, b, first, big, second]);
  });

  it('can be turned off: createEngine({ native: false }) runs the wasm kernels and says so', async () => {
    try {
      const off = await createEngine({ backend: 'wasm', native: false });
      expect(off.reason).toBe('forced; native kernels off');
      expect(nativeKernelsActive()).toBe(false);
      // Cell keys and records tell the two apart, so results of one are never reused as the other's.
      expect(engineKey(off)).toBe('wasm');
    } finally {
      const on = await createEngine({ backend: 'wasm' });
      expect(engineKey(on)).toMatch(/^wasm\+native-blas2-[a-z0-9]+$/);
    }
    expect(nativeKernelsActive()).toBe(true);
  });

  it('leaks no tensors or backend data', async () => {
    await tf.setBackend('wasm');
    const x = normal([2, 8, 8, 3], 24) as tf.Tensor4D;
    const w = normal([3, 3, 3, 4], 25) as tf.Tensor4D;
    const tensors = tf.memory().numTensors;
    const ids = (tf.backend() as WasmBackend).numDataIds();
    const g = tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.relu(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, 'same'))))([x, w]);
    tf.dispose(g);
    expect(tf.memory().numTensors).toBe(tensors);
    expect((tf.backend() as WasmBackend).numDataIds()).toBe(ids);
    tf.dispose([x, w]);
  });
});
