/**
 * Direct access to float32 tensor data where a backend keeps it in memory that JavaScript can see
 * (the wasm backend's heap), so that a batch goes in and a result comes out with one copy each.
 * Without it a batch is gathered into a new array that `tf.tensor` copies again, and `dataSync`
 * returns a new array that the caller copies again: ~0.1 ms more per 64×784 batch each way on
 * the development machine, a few percent of an mlp step, and garbage to collect.
 *
 * A backend registers its access (`registerTensorMemory`, the models package does for wasm); on
 * the others `readTensorInto` and `tensorFilledBy` take the ordinary path, with the same values.
 */
import * as tf from '@tensorflow/tfjs-core';

/** How a backend exposes its tensors' memory. */
export interface TensorMemory {
  /**
   * A view of float32 `tensor`'s data. It may be invalid after the backend's next allocation (a
   * wasm heap that grows), so it is used at once; it must never be written through.
   */
  view(tensor: tf.Tensor): Float32Array;
  /**
   * A new float32 tensor of `shape` whose data is not initialised, and a view of that data to be
   * filled before any other tensor is made (after which the tensor is treated as immutable).
   */
  allocate(shape: readonly number[]): { tensor: tf.Tensor; data: Float32Array };
}

const access = new Map<string, TensorMemory>();

/** Registers `memory` as the way to reach the data of tensors on `backendName`. */
export function registerTensorMemory(backendName: string, memory: TensorMemory): void {
  access.set(backendName, memory);
}

/** Copies float32 `tensor`'s values into `out` from `offset` (its size must fit). */
export function readTensorInto(tensor: tf.Tensor, out: Float32Array, offset: number): void {
  const memory = tensor.dtype === 'float32' ? access.get(tf.getBackend()) : undefined;
  out.set(memory ? memory.view(tensor) : (tensor.dataSync() as Float32Array), offset);
}

/** A float32 tensor of `shape` whose `size` values `fill` writes into the array it is given. */
export function tensorFilledBy(shape: readonly number[], fill: (data: Float32Array) => void): tf.Tensor {
  const memory = access.get(tf.getBackend());
  if (!memory) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    fill(data);
    return tf.tensor(data, [...shape], 'float32');
  }
  const { tensor, data } = memory.allocate(shape);
  try {
    fill(data);
  } catch (error) {
    tensor.dispose();
    throw error;
  }
  return tensor;
}
