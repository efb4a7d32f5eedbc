/**
 * The wasm kernels of this project (wasm-kernels.ts) against independent computations: the cpu
 * backend's kernels, and float64 finite differences written out in plain JavaScript.
 */
import '@tensorflow/tfjs'; // gradient functions (the Node bundle of tfjs-core registers none)
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { setFilterGradFormulation, type FilterGradFormulation } from './conv2d-backprop-filter.ts';
import { registerWasmKernels } from './wasm-kernels.ts';
import type { WasmBackend } from './wasm-util.ts';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
type Strides = number | [number, number];
type Shape4 = [number, number, number, number];

/** Deterministic uniform(-1, 1) values (mulberry32). */
function randomValues(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  }
  return out.map((v) => 2 * v);
}

/** Runs `f` on `backend` and returns its result's values (all tensors made inside are freed). */
async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  const t = tf.tidy(f);
  const values = (await t.data()) as Float32Array;
  t.dispose();
  return values;
}

function expectClose(actual: Float32Array, expected: Float32Array, what: string, rtol = 1e-4): void {
  expect(actual.length, what).toBe(expected.length);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  const ok = worst <= rtol * Math.max(1, scale);
  expect(ok, `${what}: worst |Δ| ${worst} at ${at} (expected ${expected[at]}, got ${actual[at]}; scale ${scale})`).toBe(true);
}

interface FilterCase {
  readonly x: Shape4;
  readonly k: [number, number];
  readonly cout: number;
  readonly strides: Strides;
  readonly pad: Pad;
}

function describeCase(c: FilterCase): string {
  return `x ${c.x.join('×')}, filter ${c.k.join('×')}→${c.cout}, strides ${JSON.stringify(c.strides)}, pad ${JSON.stringify(c.pad)}`;
}

function filterConvInfo(c: FilterCase): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(c.x, [c.k[0], c.k[1], c.x[3], c.cout], c.strides, 1, c.pad, undefined, false, 'channelsLast');
}

/** The Conv2DBackpropFilter kernel of the current backend, called directly. */
function filterGradKernel(x: tf.Tensor, dy: tf.Tensor, c: FilterCase): tf.Tensor {
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
    strides: c.strides,
    pad: c.pad,
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
    filterShape: [c.k[0], c.k[1], c.x[3], c.cout],
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** Kernel sizes 1, 2, 3, 5 × strides 1, 2, [1, 2] × 'same', 'valid', explicit; sizes, batch and channels vary. */
function filterCases(): FilterCase[] {
  const cases: FilterCase[] = [];
  const explicit: Pad[] = [
    [
      [0, 0],
      [1, 2],
      [2, 0],
      [0, 0],
    ],
    [
      [0, 0],
      [0, 1],
      [1, 1],
      [0, 0],
    ],
  ];
  let i = 0;
  for (const k of [1, 2, 3, 5]) {
    for (const strides of [1, 2, [1, 2]] as Strides[]) {
      for (const pad of ['same', 'valid', explicit[i % 2]] as Pad[]) {
        const h = 6 + (i % 4); // 6, 7, 8, 9: even and odd
        const w = 9 - (i % 3); // 9, 8, 7
        const batch = i % 3 === 0 ? 1 : 1 + (i % 4);
        const cin = 1 + (i % 8);
        const cout = 1 + ((i * 3 + 4) % 8);
        const kh = k;
        const kw = k === 2 && i % 2 ? 3 : k; // a few non-square filters
        cases.push({ x: [batch, h, w, cin], k: [kh, kw], cout, strides, pad });
        i++;
      }
    }
  }
  // The two convolutions of cnn-small (batch reduced), and a 1×1 projection with many channels.
  cases.push({ x: [4, 32, 32, 3], k: [3, 3], cout: 32, strides: 1, pad: 'same' });
  cases.push({ x: [4, 16, 16, 32], k: [3, 3], cout: 64, strides: 1, pad: 'same' });
  cases.push({ x: [4, 28, 28, 1], k: [3, 3], cout: 32, strides: 1, pad: 'same' });
  cases.push({ x: [3, 5, 4, 16], k: [1, 1], cout: 24, strides: 1, pad: 'valid' });
  return cases;
}

let wasm: WasmBackend;

beforeAll(async () => {
  registerWasmKernels();
  expect(await tf.setBackend('wasm')).toBe(true);
  wasm = tf.backend() as WasmBackend;
});

describe('wasm Conv2DBackpropFilter', () => {
  const formulations: FilterGradFormulation[] = ['auto', 'direct', 'asConv', 'asConvT', 'im2col', 'perTap'];

  /** Each case with its inputs and the cpu kernel's answer (computed once, shared by all formulations). */
  let prepared: { c: FilterCase; xv: Float32Array; dyv: Float32Array; dyShape: number[]; expected: Float32Array }[];

  beforeAll(async () => {
    prepared = [];
    for (const [n, c] of filterCases().entries()) {
      const info = filterConvInfo(c);
      const xv = randomValues(tf.util.sizeFromShape(c.x), 100 + n);
      const dyShape = [c.x[0], info.outHeight, info.outWidth, c.cout];
      const dyv = randomValues(tf.util.sizeFromShape(dyShape), 200 + n);
      const expected = await on('cpu', () => filterGradKernel(tf.tensor(xv, c.x), tf.tensor(dyv, dyShape), c));
      prepared.push({ c, xv, dyv, dyShape, expected });
    }
  });

  it.each(formulations)('%s agrees with the cpu kernel across kernel sizes, strides, paddings and shapes', async (formulation) => {
    setFilterGradFormulation(formulation);
    try {
      for (const { c, xv, dyv, dyShape, expected } of prepared) {
        const actual = await on('wasm', () => filterGradKernel(tf.tensor(xv, c.x), tf.tensor(dyv, dyShape), c));
        expectClose(actual, expected, `${formulation}: ${describeCase(c)}`);
      }
    } finally {
      setFilterGradFormulation('auto');
    }
  });

  it('matches float64 central differences of a nonlinear loss', async () => {
    const cases: FilterCase[] = [
      { x: [2, 7, 6, 3], k: [3, 3], cout: 4, strides: 1, pad: 'same' },
      { x: [3, 9, 8, 2], k: [3, 2], cout: 3, strides: [2, 1], pad: 'valid' },
      {
        x: [1, 8, 8, 2],
        k: [5, 5],
        cout: 2,
        strides: 2,
        pad: [
          [0, 0],
          [2, 1],
          [1, 2],
          [0, 0],
        ],
      },
    ];
    for (const [n, c] of cases.entries()) {
      const info = filterConvInfo(c);
      const wShape: Shape4 = [c.k[0], c.k[1], c.x[3], c.cout];
      const xv = randomValues(tf.util.sizeFromShape(c.x), 300 + n);
      const wv = randomValues(tf.util.sizeFromShape(wShape), 400 + n).map((v) => v * 0.5);
      const rv = randomValues(c.x[0] * info.outHeight * info.outWidth * c.cout, 500 + n);
      // L(W) = Σ tanh(conv2d(x, W)) · R, its gradient from the wasm backend...
      const grad = await on('wasm', () =>
        tf.grad((w: tf.Tensor) =>
          tf.sum(tf.mul(tf.tanh(tf.conv2d(tf.tensor4d(xv, c.x), w as tf.Tensor4D, c.strides, c.pad)), tf.tensor(rv, [c.x[0], info.outHeight, info.outWidth, c.cout]))),
        )(tf.tensor4d(wv, wShape)),
      );
      // ...and from central differences of a float64 forward pass.
      const loss = (w: Float64Array): number => {
        const y = conv2dF64(xv, c.x, w, wShape, info);
        let s = 0;
        for (let i = 0; i < y.length; i++) s += Math.tanh(y[i]) * rv[i];
        return s;
      };
      const h = 1e-5;
      for (let j = 0; j < wv.length; j += Math.max(1, Math.floor(wv.length / 7))) {
        const plus = Float64Array.from(wv);
        const minus = Float64Array.from(wv);
        plus[j] += h;
        minus[j] -= h;
        const numeric = (loss(plus) - loss(minus)) / (2 * h);
        expect(Math.abs(grad[j] - numeric), `${describeCase(c)}, entry ${j}: ${grad[j]} vs ${numeric}`).toBeLessThan(1e-4 * (1 + Math.abs(numeric)));
      }
    }
  });

  it('leaks no tensors and no backend buffers', async () => {
    await tf.setBackend('wasm');
    const c: FilterCase = { x: [2, 9, 8, 3], k: [3, 3], cout: 5, strides: 2, pad: 'same' };
    const info = filterConvInfo(c);
    const x = tf.tensor(randomValues(tf.util.sizeFromShape(c.x), 1), c.x);
    const dy = tf.tensor(randomValues(2 * info.outHeight * info.outWidth * 5, 2), [2, info.outHeight, info.outWidth, 5]);
    for (const formulation of formulations) {
      setFilterGradFormulation(formulation);
      filterGradKernel(x, dy, c).dispose(); // warm-up (first-call caches)
      const tensors = tf.memory().numTensors;
      const buffers = tf.engine().state.numDataBuffers;
      const dataIds = wasm.numDataIds();
      for (let i = 0; i < 3; i++) filterGradKernel(x, dy, c).dispose();
      expect(tf.memory().numTensors, formulation).toBe(tensors);
      expect(tf.engine().state.numDataBuffers, formulation).toBe(buffers);
      expect(wasm.numDataIds(), formulation).toBe(dataIds);
    }
    setFilterGradFormulation('auto');
    tf.dispose([x, dy]);
  });

  it('trains a small conv net inside tf.variableGrads, matching the cpu gradients', async () => {
    const xShape: Shape4 = [4, 10, 10, 3];
    const xv = randomValues(tf.util.sizeFromShape(xShape), 7);
    const labels = [1, 0, 3, 2];
    const init: Record<string, [number[], Float32Array]> = {
      w1: [[3, 3, 3, 8], randomValues(216, 11).map((v) => v * 0.4)],
      b1: [[8], randomValues(8, 12).map((v) => v * 0.1)],
      w2: [[3, 3, 8, 6], randomValues(432, 13).map((v) => v * 0.3)],
      b2: [[6], randomValues(6, 14).map((v) => v * 0.1)],
      w3: [[5 * 5 * 6, 4], randomValues(600, 15).map((v) => v * 0.2)],
      b3: [[4], randomValues(4, 16).map((v) => v * 0.1)],
    };
    const gradsOn = async (backend: 'cpu' | 'wasm'): Promise<Record<string, Float32Array>> => {
      await tf.setBackend(backend);
      const vars = Object.fromEntries(Object.entries(init).map(([k, [s, v]]) => [k, tf.variable(tf.tensor(v, s), true, `${backend}_${k}`)]));
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(() =>
        tf.tidy(() => {
          const x = tf.tensor4d(xv, xShape);
          let h = tf.relu(tf.add(tf.conv2d(x, vars.w1 as tf.Tensor4D, 1, 'same'), vars.b1)) as tf.Tensor4D;
          h = tf.relu(tf.add(tf.conv2d(h, vars.w2 as tf.Tensor4D, 1, 'same'), vars.b2)) as tf.Tensor4D;
          h = tf.maxPool(h, 2, 2, 'valid');
          const logits = tf.add(tf.matMul(tf.reshape(h, [xShape[0], -1]), vars.w3), vars.b3);
          return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), 4), logits) as tf.Scalar;
        }),
      );
      const out: Record<string, Float32Array> = { loss: (await value.data()) as Float32Array };
      for (const [k, g] of Object.entries(grads)) out[k.replace(`${backend}_`, '')] = (await g.data()) as Float32Array;
      tf.dispose([value, ...Object.values(grads)]);
      expect(tf.memory().numTensors, `${backend} leaked tensors in the step`).toBe(before);
      tf.dispose(Object.values(vars));
      return out;
    };
    const cpu = await gradsOn('cpu');
    const wasmGrads = await gradsOn('wasm');
    expect(Object.keys(wasmGrads).sort()).toEqual(Object.keys(cpu).sort());
    for (const k of Object.keys(cpu)) expectClose(wasmGrads[k], cpu[k], `gradient of ${k}`, 1e-4);
  });
});

describe('other wasm gradient kernels against cpu', () => {
  it('Conv2DBackpropInput agrees with cpu (cnn-small shapes, and the stock fallback for strides)', async () => {
    const cases: FilterCase[] = [
      { x: [4, 16, 16, 32], k: [3, 3], cout: 64, strides: 1, pad: 'same' },
      { x: [4, 32, 32, 3], k: [3, 3], cout: 32, strides: 1, pad: 'same' },
      { x: [2, 9, 8, 3], k: [5, 3], cout: 4, strides: 1, pad: 'valid' },
      { x: [2, 8, 9, 2], k: [2, 2], cout: 3, strides: 1, pad: 'same' },
      {
        x: [2, 7, 7, 2],
        k: [3, 3],
        cout: 3,
        strides: 1,
        pad: [
          [0, 0],
          [2, 0],
          [1, 2],
          [0, 0],
        ],
      },
      { x: [2, 9, 9, 4], k: [3, 3], cout: 5, strides: 2, pad: 'same' },
      { x: [2, 9, 8, 4], k: [3, 3], cout: 5, strides: [1, 2], pad: 'valid' },
    ];
    for (const [n, c] of cases.entries()) {
      const info = filterConvInfo(c);
      const wShape: Shape4 = [c.k[0], c.k[1], c.x[3], c.cout];
      const dyShape = [c.x[0], info.outHeight, info.outWidth, c.cout];
      const wv = randomValues(tf.util.sizeFromShape(wShape), 600 + n);
      const dyv = randomValues(tf.util.sizeFromShape(dyShape), 700 + n);
      const run = () =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(dyv, dyShape), filter: tf.tensor(wv, wShape) }, {
          strides: c.strides,
          pad: c.pad,
          dataFormat: 'NHWC',
          dimRoundingMode: undefined,
          inputShape: c.x,
        } as unknown as tf.NamedAttrMap) as tf.Tensor;
      expectClose(await on('wasm', run), await on('cpu', run), `Conv2DBackpropInput ${describeCase(c)}`);
    }
  });

  it('MaxPoolGrad agrees with cpu, including all-negative windows, ties and overlapping windows', async () => {
    type Values = 'normal' | 'relu' | 'ties' | 'special';
    const cases: { x: Shape4; size: number; stride: number; pad: 'same' | 'valid'; values: Values }[] = [
      // 2×2 / stride 2 with C % 4 == 0 runs in the SIMD module, the rest in JavaScript.
      { x: [4, 32, 32, 32], size: 2, stride: 2, pad: 'valid', values: 'normal' },
      { x: [4, 16, 16, 64], size: 2, stride: 2, pad: 'valid', values: 'relu' },
      { x: [2, 7, 9, 4], size: 2, stride: 2, pad: 'valid', values: 'ties' },
      { x: [2, 6, 8, 8], size: 2, stride: 2, pad: 'same', values: 'special' },
      { x: [2, 6, 8, 3], size: 2, stride: 2, pad: 'same', values: 'special' },
      { x: [2, 7, 9, 3], size: 2, stride: 2, pad: 'valid', values: 'ties' },
      { x: [2, 7, 9, 3], size: 2, stride: 2, pad: 'same', values: 'normal' },
      { x: [2, 9, 9, 4], size: 3, stride: 2, pad: 'same', values: 'ties' },
      { x: [2, 8, 8, 3], size: 2, stride: 1, pad: 'valid', values: 'normal' },
      { x: [1, 6, 6, 2], size: 3, stride: 3, pad: 'valid', values: 'relu' },
    ];
    for (const [n, c] of cases.entries()) {
      let xv = randomValues(tf.util.sizeFromShape(c.x), 800 + n);
      if (c.values === 'relu') xv = xv.map((v) => Math.max(0, v));
      if (c.values === 'ties') xv = xv.map((v) => Math.round(v * 2) / 2);
      if (c.values === 'special') {
        // NaN never wins; −∞ only where nothing beats it; ±0 ties.
        const special = [Number.NaN, Number.NEGATIVE_INFINITY, 0, -0, Number.POSITIVE_INFINITY];
        xv = xv.map((v, i) => (i % 3 === 0 ? special[(i / 3) % special.length] : v));
      }
      const run = () =>
        tf.grad((x: tf.Tensor) => {
          const y = tf.maxPool(x as tf.Tensor4D, c.size, c.stride, c.pad);
          return tf.sum(tf.mul(y, tf.tensor(randomValues(tf.util.sizeFromShape(y.shape), 900 + n), y.shape)));
        })(tf.tensor4d(xv, c.x));
      expectClose(await on('wasm', run), await on('cpu', run), `MaxPoolGrad ${JSON.stringify(c)}`, 1e-6);
    }
  });

  it('BatchMatMul agrees with cpu for every transposition, rank and batch', async () => {
    const cases: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [];
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        cases.push({ a: ta ? [37, 19] : [19, 37], b: tb ? [23, 37] : [37, 23], ta, tb });
        cases.push({ a: ta ? [1, 8, 5] : [1, 5, 8], b: tb ? [1, 6, 8] : [1, 8, 6], ta, tb });
        cases.push({ a: ta ? [3, 8, 5] : [3, 5, 8], b: tb ? [3, 6, 8] : [3, 8, 6], ta, tb });
        cases.push({ a: ta ? [2, 1, 8, 5] : [2, 1, 5, 8], b: tb ? [3, 6, 8] : [3, 8, 6], ta, tb });
      }
    }
    cases.push({ a: [128, 4096], b: [128, 128], ta: true, tb: false });
    cases.push({ a: [128, 128], b: [4096, 128], ta: false, tb: true });
    for (const [n, c] of cases.entries()) {
      const av = randomValues(tf.util.sizeFromShape(c.a), 1000 + n);
      const bv = randomValues(tf.util.sizeFromShape(c.b), 1100 + n);
      let shapes: number[][] = [];
      const run = () => {
        const r = tf.matMul(tf.tensor(av, c.a), tf.tensor(bv, c.b), c.ta, c.tb);
        shapes.push(r.shape);
        return r;
      };
      const expected = await on('cpu', run);
      const actual = await on('wasm', run);
      expect(shapes[1], JSON.stringify(c)).toEqual(shapes[0]);
      expectClose(actual, expected, `matMul ${JSON.stringify(c)}`);
      shapes = [];
    }
  });

  it('Sum agrees with cpu for leading-axis (bias gradient) and other reductions', async () => {
    const cases: { shape: number[]; axis: number | number[]; keepDims: boolean; dtype?: 'int32' }[] = [
      { shape: [8, 16, 16, 32], axis: [0, 1, 2], keepDims: false },
      { shape: [8, 16, 16, 32], axis: [2, 0, 1], keepDims: true },
      { shape: [64, 12], axis: 0, keepDims: false },
      { shape: [5, 3, 8], axis: [0, 1], keepDims: false },
      { shape: [5, 3, 6], axis: [0, 1], keepDims: false }, // 6 columns: stock kernel
      { shape: [4, 6, 8], axis: [1, 2], keepDims: false }, // trailing axes: stock kernel
      { shape: [4, 6, 8], axis: [0, 2], keepDims: true },
      { shape: [4, 6, 8], axis: [0, 1, 2], keepDims: false },
      { shape: [6, 8], axis: 0, keepDims: false, dtype: 'int32' },
    ];
    for (const [n, c] of cases.entries()) {
      const values = randomValues(tf.util.sizeFromShape(c.shape), 1200 + n).map((v) => (c.dtype ? Math.round(v * 50) : v * 3));
      let shapes: number[][] = [];
      const run = () => {
        const r = tf.sum(tf.tensor(values, c.shape, c.dtype ?? 'float32'), c.axis, c.keepDims);
        shapes.push(r.shape);
        return tf.cast(r, 'float32');
      };
      const expected = await on('cpu', run);
      const actual = await on('wasm', run);
      expect(shapes[1], JSON.stringify(c)).toEqual(shapes[0]);
      expectClose(actual, expected, `sum ${JSON.stringify(c)}`, 1e-5);
      shapes = [];
    }
  });

  it('Identity and same-dtype Cast share the data, which outlives whichever reference goes first', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor([1.5, -2, 3], [3]);
    const copies = [tf.clone(x), tf.cast(x, 'float32')];
    expect(copies.map((c) => c.dataId)).toEqual([x.dataId, x.dataId]);
    const dataIds = wasm.numDataIds();
    x.dispose();
    expect(wasm.numDataIds()).toBe(dataIds);
    expect(Array.from(copies[0].dataSync())).toEqual([1.5, -2, 3]);
    copies[0].dispose();
    expect(Array.from(copies[1].dataSync())).toEqual([1.5, -2, 3]);
    copies[1].dispose();
    expect(wasm.numDataIds()).toBe(dataIds - 1);
    const ints = tf.cast(tf.tensor([1.7, -2.2], [2]), 'int32');
    expect(Array.from(ints.dataSync())).toEqual(Array.from((await on('cpu', () => tf.cast(tf.tensor([1.7, -2.2], [2]), 'int32'))) as ArrayLike<number>));
    ints.dispose();
  });

  it('the replaced kernels leak nothing', async () => {
    await tf.setBackend('wasm');
    const dy = tf.tensor(randomValues(2 * 8 * 8 * 6, 1), [2, 8, 8, 6]);
    const w = tf.tensor(randomValues(3 * 3 * 4 * 6, 2), [3, 3, 4, 6]);
    const x = tf.tensor(randomValues(2 * 8 * 8 * 4, 3), [2, 8, 8, 4]);
    const pooled = tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid');
    const ops: [string, () => tf.Tensor][] = [
      [
        'Conv2DBackpropInput',
        () =>
          tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, {
            strides: 1,
            pad: 'same',
            dataFormat: 'NHWC',
            inputShape: [2, 8, 8, 4],
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
      ],
      [
        'MaxPoolGrad',
        () =>
          tf.engine().runKernel('MaxPoolGrad', { dy: tf.onesLike(pooled), input: x, output: pooled }, {
            filterSize: 2,
            strides: 2,
            pad: 'valid',
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
      ],
      ['BatchMatMul', () => tf.matMul(tf.reshape(x, [16, 32]), tf.reshape(x, [16, 32]), true, false)],
      ['BatchMatMul', () => tf.matMul(tf.reshape(x, [16, 32]), tf.reshape(x, [16, 32]), false, true)],
      ['Sum', () => tf.sum(x, [0, 1, 2])],
      ['Identity', () => tf.clone(x)],
      ['Cast', () => tf.cast(x, 'float32')],
      ['Cast', () => tf.cast(x, 'int32')],
    ];
    for (const [name, op] of ops) {
      tf.tidy(op).dispose(); // warm-up
      const tensors = tf.memory().numTensors;
      const dataIds = wasm.numDataIds();
      for (let i = 0; i < 3; i++) tf.tidy(op).dispose();
      expect(tf.memory().numTensors, name).toBe(tensors);
      expect(wasm.numDataIds(), name).toBe(dataIds);
    }
    tf.dispose([dy, w, x, pooled]);
  });
});

/** Plain float64 NHWC convolution (the reference forward pass for finite differences). */
function conv2dF64(x: ArrayLike<number>, xShape: Shape4, w: ArrayLike<number>, wShape: Shape4, info: tf.backend_util.Conv2DInfo): Float64Array {
  const [batch, height, width, cin] = xShape;
  const [kh, kw, , cout] = wShape;
  const { outHeight, outWidth, strideHeight, strideWidth } = info;
  const { top, left } = info.padInfo;
  const y = new Float64Array(batch * outHeight * outWidth * cout);
  for (let b = 0; b < batch; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        for (let co = 0; co < cout; co++) {
          let s = 0;
          for (let i = 0; i < kh; i++) {
            const h = oh * strideHeight + i - top;
            if (h < 0 || h >= height) continue;
            for (let j = 0; j < kw; j++) {
              const v = ow * strideWidth + j - left;
              if (v < 0 || v >= width) continue;
              for (let ci = 0; ci < cin; ci++) s += x[((b * height + h) * width + v) * cin + ci] * w[((i * kw + j) * cin + ci) * cout + co];
            }
          }
          y[((b * outHeight + oh) * outWidth + ow) * cout + co] = s;
        }
      }
    }
  }
  return y;
}
