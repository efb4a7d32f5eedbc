/**
 * Sum for wasm, for the reduction every bias gradient makes: over the leading axes of a float32
 * tensor ([B, H, W, C] → [C]). The stock kernel transposes the reduced axes innermost first (a full
 * copy) and then sums in float32; this one streams the rows once through the SIMD module,
 * accumulating in float64. Every other reduction goes to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { simdKernels } from './simd-kernels.ts';
import { callStockKernel, heapAddress, type WasmBackend } from './wasm-util.ts';

/** Kernel function for `Sum`, registered for wasm. */
export const sumKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { x } = inputs as unknown as { x: tf.TensorInfo };
  const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
  const wasm = backend as WasmBackend;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i);
  const rows = tf.util.sizeFromShape(x.shape.slice(0, axes.length));
  const cols = tf.util.sizeFromShape(x.shape.slice(axes.length));
  const kernels = leading && x.dtype === 'float32' && rows > 0 && cols > 0 && cols % 4 === 0 ? simdKernels(wasm) : undefined;
  if (!kernels) return callStockKernel(wasm, 'Sum', { x }, attrs as Record<string, unknown>);
  const kept = x.shape.slice(axes.length);
  const out = wasm.makeOutput(keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
  const acc = wasm.wasm._malloc(cols * 8);
  try {
    kernels.sum_rows(heapAddress(wasm, x), rows, cols, acc, heapAddress(wasm, out));
  } finally {
    wasm.wasm._free(acc);
  }
  return out;
};
