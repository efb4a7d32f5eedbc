/**
 * BatchMatMul for wasm. The stock kernel uses XNNPACK only for a single, untransposed product;
 * anything with `transposeA`/`transposeB` (every dense layer's backward pass) falls to a scalar
 * triple loop that is ~10× slower. For a single product this wrapper materialises the transposes
 * (cheap, O(size)) and calls the stock kernel untransposed, so XNNPACK runs the O(n³) part.
 */
import * as tf from '@tensorflow/tfjs-core';
import { callStockKernel, release, transpose, view, type WasmBackend } from './wasm-util.ts';

/** Kernel function for `BatchMatMul`, registered for wasm. */
export const batchMatMulKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { a, b } = inputs as unknown as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
  const wasm = backend as WasmBackend;
  const single = tf.util.sizeFromShape(a.shape.slice(0, -2)) === 1 && tf.util.sizeFromShape(b.shape.slice(0, -2)) === 1;
  const empty = tf.util.sizeFromShape(a.shape) === 0 || tf.util.sizeFromShape(b.shape) === 0;
  if ((!transposeA && !transposeB) || !single || empty || a.dtype !== 'float32' || b.dtype !== 'float32') {
    return callStockKernel(wasm, 'BatchMatMul', { a, b }, attrs as Record<string, unknown>);
  }
  const a2 = transposeA ? transpose(wasm, view(a, a.shape.slice(-2)), [1, 0]) : undefined;
  const b2 = transposeB ? transpose(wasm, view(b, b.shape.slice(-2)), [1, 0]) : undefined;
  const out = callStockKernel(
    wasm,
    'BatchMatMul',
    { a: a2 ?? a, b: b2 ?? b },
    { transposeA: false, transposeB: false },
  );
  release(wasm, a2, b2);
  // The stock kernel shapes the output from its (now 2-D) operands; restore the broadcast rank.
  const rank = Math.max(a.shape.length, b.shape.length);
  const m = out.shape[out.shape.length - 2];
  const n = out.shape[out.shape.length - 1];
  out.shape = [...new Array<number>(rank - 2).fill(1), m, n];
  return out;
};
