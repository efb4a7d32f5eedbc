/**
 * UnsortedSegmentSum for wasm, which stock tfjs-backend-wasm (4.22) lacks: it is the gradient of
 * Gather (tfjs-core's GatherV2 gradient sums the incoming rows into the gathered ones), so an
 * embedding lookup cannot train on wasm without it. out[s] = Σ over i with segmentIds[i] = s of
 * x[i], rows of x being everything after the first axis; ids outside [0, numSegments) are dropped,
 * as TensorFlow does. Plain JavaScript over the heap: one pass over x plus zeroing the output.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WasmBackend } from './wasm-util.ts';

/** Kernel function for `UnsortedSegmentSum` (float32 data, int32 ids over the first axis), registered for wasm. */
export const unsortedSegmentSumKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { x, segmentIds } = inputs as unknown as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
  if (x.dtype !== 'float32') throw new Error(`UnsortedSegmentSum on wasm supports float32 data, got ${x.dtype}`);
  if (segmentIds.shape.length !== 1 || segmentIds.shape[0] !== x.shape[0]) {
    throw new Error(`UnsortedSegmentSum on wasm takes one id per row of x: ids [${segmentIds.shape.join(', ')}], x [${x.shape.join(', ')}]`);
  }
  const wasm = backend as WasmBackend;
  const rowSize = tf.util.sizeFromShape(x.shape.slice(1));
  const out = wasm.makeOutput([numSegments, ...x.shape.slice(1)], 'float32');
  // Views taken after the allocation: growing the wasm memory would detach older views.
  const values = wasm.typedArrayFromHeap(x) as Float32Array;
  const ids = wasm.typedArrayFromHeap(segmentIds) as Int32Array;
  const sums = wasm.typedArrayFromHeap(out) as Float32Array;
  sums.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const from = i * rowSize;
    const to = s * rowSize;
    for (let j = 0; j < rowSize; j++) sums[to + j] += values[from + j];
  }
  return out;
};
