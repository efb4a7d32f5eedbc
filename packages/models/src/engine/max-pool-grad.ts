/**
 * MaxPool gradient for wasm, computed on the wasm heap in place.
 *
 * The stock wasm kernel (tfjs-backend-wasm 4.22) disagrees with the cpu backend and with
 * TensorFlow: it starts each window's maximum at the smallest *positive* float and keeps the *last*
 * maximum, so windows whose values are all ≤ 0 pass no gradient at all and ties go to the wrong
 * element. It is also slow (120 ms for the two pools of a cnn-small step at batch 128; this takes
 * 4 ms). This version follows the cpu backend exactly: the gradient goes to the first strict
 * maximum of each window (row-major), NaN never wins, and overlapping windows add up. The usual
 * 2×2/stride-2 pool runs in the SIMD module (simd-kernels.wat), every other pool in plain
 * JavaScript over the heap.
 */
import * as tf from '@tensorflow/tfjs-core';
import { simdKernels } from './simd-kernels.ts';
import { heapAddress, type WasmBackend } from './wasm-util.ts';

/** Kernel function for `MaxPoolGrad` (NHWC), registered for wasm. */
export const maxPoolGradKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { dy, input } = inputs as unknown as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  if (input.dtype !== 'float32' || dy.dtype !== 'float32') throw new Error('MaxPoolGrad on wasm supports float32 only');
  const wasm = backend as WasmBackend;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const out = wasm.makeOutput(input.shape, 'float32');
  const kernels = simdKernels(wasm);
  const { outHeight, outWidth, inHeight, inWidth, inChannels } = info;
  const simple2x2 =
    info.effectiveFilterHeight === 2 &&
    info.effectiveFilterWidth === 2 &&
    info.strideHeight === 2 &&
    info.strideWidth === 2 &&
    info.padInfo.top === 0 &&
    info.padInfo.left === 0 &&
    2 * outHeight <= inHeight &&
    2 * outWidth <= inWidth &&
    inChannels % 4 === 0 &&
    outHeight * outWidth * inChannels > 0;
  if (kernels && simple2x2) {
    // The SIMD kernel writes every element a window covers; zero the rest first if there is any.
    if (2 * outHeight < inHeight || 2 * outWidth < inWidth) wasm.typedArrayFromHeap(out).fill(0);
    kernels.max_pool_grad_2x2(
      heapAddress(wasm, input),
      heapAddress(wasm, dy),
      heapAddress(wasm, out),
      info.batchSize,
      outHeight,
      outWidth,
      inChannels,
      inHeight,
      inWidth,
    );
    return out;
  }
  // Views taken after the allocation: growing the wasm memory would detach older views.
  const x = wasm.typedArrayFromHeap(input) as Float32Array;
  const g = wasm.typedArrayFromHeap(dy) as Float32Array;
  const dx = wasm.typedArrayFromHeap(out) as Float32Array;
  maxPoolGradInto(x, g, dx, info);
  return out;
};

/** dx ← Σ over windows of dy at each window's first maximum. `dx` is overwritten. */
export function maxPoolGradInto(x: Float32Array, dy: Float32Array, dx: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const { strideHeight, strideWidth, effectiveFilterHeight, effectiveFilterWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  dx.fill(0);
  const rowStride = inWidth * channels;
  // Windows that do not overlap (the usual pool 2, stride 2) get each dx element at most once, so
  // the winner can be assigned directly; overlapping windows accumulate.
  const overlapping = strideHeight < effectiveFilterHeight || strideWidth < effectiveFilterWidth;
  for (let b = 0; b < batchSize; b++) {
    const xBatch = b * inHeight * rowStride;
    for (let yR = 0; yR < outHeight; yR++) {
      const rCorner = yR * strideHeight - padTop;
      const rMin = Math.max(0, rCorner);
      const rMax = Math.min(inHeight, rCorner + effectiveFilterHeight);
      for (let yC = 0; yC < outWidth; yC++) {
        const cCorner = yC * strideWidth - padLeft;
        const cMin = Math.max(0, cCorner);
        const cMax = Math.min(inWidth, cCorner + effectiveFilterWidth);
        const dyBase = ((b * outHeight + yR) * outWidth + yC) * channels;
        const corner = xBatch + rMin * rowStride + cMin * channels;
        if (rMax - rMin === 2 && cMax - cMin === 2 && !overlapping) {
          // 2×2 window: the four candidates in registers, in row-major order.
          const o1 = corner + channels;
          const o2 = corner + rowStride;
          const o3 = o2 + channels;
          for (let d = 0; d < channels; d++) {
            let best = Number.NEGATIVE_INFINITY;
            let at = -1;
            let v = x[corner + d];
            if (v > best) {
              best = v;
              at = corner + d;
            }
            v = x[o1 + d];
            if (v > best) {
              best = v;
              at = o1 + d;
            }
            v = x[o2 + d];
            if (v > best) {
              best = v;
              at = o2 + d;
            }
            v = x[o3 + d];
            if (v > best) at = o3 + d;
            if (at >= 0) dx[at] = dy[dyBase + d];
          }
          continue;
        }
        for (let d = 0; d < channels; d++) {
          let best = Number.NEGATIVE_INFINITY;
          let at = -1;
          for (let r = rMin; r < rMax; r++) {
            const rowBase = xBatch + r * rowStride + d;
            for (let c = cMin; c < cMax; c++) {
              const v = x[rowBase + c * channels];
              if (v > best) {
                best = v;
                at = rowBase + c * channels;
              }
            }
          }
          if (at >= 0) {
            if (overlapping) dx[at] += dy[dyBase + d];
            else dx[at] = dy[dyBase + d];
          }
        }
      }
    }
  }
}
