/**
 * Times the wasm Conv2D filter gradient per formulation, and a full cnn-small training step
 * (BENCHMARK.md) with the baseline vs the fast wasm kernels.
 *
 *   cd packages/models && npx tsx src/engine/bench-conv-grad.ts [--rounds 7] [--steps 10] [--only filter|step]
 *
 * It imports no @unlearn-bench package, so it runs whatever state the rest of the repo is in.
 */
import '@tensorflow/tfjs'; // gradient functions (the Node bundle of tfjs-core registers none)
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { setFilterGradFormulation, type FilterGradFormulation } from './conv2d-backprop-filter.ts';
import { useWasmKernels, type WasmKernelSet } from './wasm-kernels.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const ROUNDS = Number(option('rounds', '7'));
const STEPS = Number(option('steps', '10'));
const ONLY = option('only', 'all');

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

interface Shape {
  readonly name: string;
  readonly x: [number, number, number, number];
  readonly cout: number;
}

const SHAPES: Shape[] = [
  { name: 'conv1 32x32x3→32', x: [128, 32, 32, 3], cout: 32 },
  { name: 'conv2 16x16x32→64', x: [128, 16, 16, 32], cout: 64 },
  { name: 'conv1 28x28x1→32', x: [128, 28, 28, 1], cout: 32 },
  { name: 'conv2 14x14x32→64', x: [128, 14, 14, 32], cout: 64 },
];

/** What is timed: a formulation, with the stock or the project's other wasm kernels around it. */
interface Column {
  readonly label: string;
  readonly formulation: FilterGradFormulation;
  readonly set: WasmKernelSet;
}

const COLUMNS: Column[] = [
  // The first version as it ran: its transposed matmuls took wasm's scalar fallback.
  { label: 'perTap(stock mm)', formulation: 'perTap', set: 'baseline' },
  { label: 'perTap', formulation: 'perTap', set: 'fast' },
  { label: 'im2col', formulation: 'im2col', set: 'fast' },
  { label: 'direct', formulation: 'direct', set: 'fast' },
  { label: 'asConv', formulation: 'asConv', set: 'fast' },
  { label: 'asConvT', formulation: 'asConvT', set: 'fast' },
  { label: 'auto', formulation: 'auto', set: 'fast' },
];

function use(column: Column): void {
  useWasmKernels(column.set);
  setFilterGradFormulation(column.formulation);
}

function filterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[]): tf.Tensor {
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
    strides: 1,
    pad: 'same',
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
    filterShape,
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

function benchFilter(): void {
  console.log(`\nConv2DBackpropFilter on wasm, 3×3 'same', batch 128: median ms per call over ${ROUNDS} rounds`);
  const width = 18;
  console.log(['shape'.padEnd(20), ...COLUMNS.map((c) => c.label.padStart(width))].join(''));
  for (const shape of SHAPES) {
    const x = tf.randomNormal(shape.x, 0, 1, 'float32', 1) as tf.Tensor4D;
    const dy = tf.randomNormal([shape.x[0], shape.x[1], shape.x[2], shape.cout], 0, 1, 'float32', 2) as tf.Tensor4D;
    const filterShape = [3, 3, shape.x[3], shape.cout];
    const times = new Map<Column, number[]>(COLUMNS.map((c) => [c, []]));
    let reference: Float32Array | undefined;
    let scale = 0;
    const errors: string[] = [];
    for (const column of COLUMNS) {
      use(column);
      const r = filterGrad(x, dy, filterShape); // warm-up, and a cross-check
      const values = r.dataSync() as Float32Array;
      r.dispose();
      if (!reference) {
        reference = values;
        for (const v of values) scale = Math.max(scale, Math.abs(v));
      }
      let worst = 0;
      for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(values[i] - reference[i]));
      if (worst > 1e-4 * scale) errors.push(`${column.label} differs from ${COLUMNS[0].label} by ${worst} (largest entry ${scale})`);
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const column of COLUMNS) {
        if (column.formulation === 'perTap' && round >= 3) continue; // slow; three rounds are plenty
        use(column);
        const t0 = performance.now();
        const r = filterGrad(x, dy, filterShape);
        r.dataSync();
        times.get(column)!.push(performance.now() - t0);
        r.dispose();
      }
    }
    console.log([shape.name.padEnd(20), ...COLUMNS.map((c) => median(times.get(c)!).toFixed(1).padStart(width))].join(''));
    for (const e of errors) console.log(`  MISMATCH: ${e}`);
    x.dispose();
    dy.dispose();
  }
  useWasmKernels('fast');
  setFilterGradFormulation('auto');
}

/** cnn-small of BENCHMARK.md: conv3×3·32 → pool → conv3×3·64 → pool → dense 128 → dense 10. */
function cnnSmall(size: number, channels: number, seed: number) {
  const flat = (size / 4) * (size / 4) * 64;
  const init = (shape: number[], fanIn: number, s: number) =>
    tf.variable(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed + s));
  const p = {
    w1: init([3, 3, channels, 32], 9 * channels, 1),
    b1: tf.variable(tf.zeros([32])),
    w2: init([3, 3, 32, 64], 9 * 32, 2),
    b2: tf.variable(tf.zeros([64])),
    w3: init([flat, 128], flat, 3),
    b3: tf.variable(tf.zeros([128])),
    w4: init([128, 10], 128, 4),
    b4: tf.variable(tf.zeros([10])),
  };
  const logits = (x: tf.Tensor4D): tf.Tensor2D => {
    let h = tf.relu(tf.add(tf.conv2d(x, p.w1 as tf.Variable<tf.Rank.R4>, 1, 'same'), p.b1)) as tf.Tensor4D;
    h = tf.maxPool(h, 2, 2, 'valid');
    h = tf.relu(tf.add(tf.conv2d(h, p.w2 as tf.Variable<tf.Rank.R4>, 1, 'same'), p.b2)) as tf.Tensor4D;
    h = tf.maxPool(h, 2, 2, 'valid');
    const d = tf.relu(tf.add(tf.matMul(tf.reshape(h, [x.shape[0], flat]), p.w3), p.b3));
    return tf.add(tf.matMul(d, p.w4), p.b4) as tf.Tensor2D;
  };
  return { params: Object.values(p), logits };
}

function benchStep(set: WasmKernelSet, size: number, channels: number): number {
  useWasmKernels(set);
  const batch = 128;
  const model = cnnSmall(size, channels, 7);
  const x = tf.randomNormal([batch, size, size, channels], 0, 1, 'float32', 11) as tf.Tensor4D;
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 7919) % 10), 'int32'), 10);
  const optimizer = tf.train.momentum(0.01, 0.9);
  const step = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, model.logits(x)) as tf.Scalar);
      optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      return value;
    });
  for (let i = 0; i < 3; i++) step().dispose();
  const times: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const t0 = performance.now();
    const loss = step();
    loss.dataSync();
    times.push(performance.now() - t0);
    loss.dispose();
  }
  tf.dispose([x, labels, ...model.params]);
  optimizer.dispose();
  return (batch / median(times)) * 1000;
}

await tf.setBackend('wasm');
await tf.ready();
if (ONLY === 'all' || ONLY === 'filter') benchFilter();
if (ONLY === 'all' || ONLY === 'step') {
  console.log(`\ncnn-small train step on wasm, batch 128 (SGD momentum): images/s, median of ${STEPS} steps after 3 warm-up`);
  for (const [size, channels] of [
    [32, 3],
    [28, 1],
  ]) {
    const before = benchStep('baseline', size, channels);
    const after = benchStep('fast', size, channels);
    console.log(`${size}x${size}x${channels}: baseline ${before.toFixed(1)} img/s → fast ${after.toFixed(1)} img/s (×${(after / before).toFixed(2)})`);
  }
}
