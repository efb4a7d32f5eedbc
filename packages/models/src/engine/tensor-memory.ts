/**
 * core's TensorMemory for the wasm backend (see core's tensor-memory.ts): views of the heap where
 * the backend keeps each tensor's data.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerTensorMemory } from '@unlearn-bench/core';
import type { WasmBackend } from './wasm-util.ts';

function wasmBackend(): WasmBackend {
  return tf.findBackend('wasm') as WasmBackend;
}

/** Registers the wasm backend's TensorMemory (idempotent). */
export function registerWasmTensorMemory(): void {
  registerTensorMemory('wasm', {
    view(tensor) {
      const backend = wasmBackend();
      // A tensor whose data is still on another backend is read the ordinary way (moved here first).
      if (!backend.dataIdMap.get(tensor.dataId)) return tensor.dataSync() as Float32Array;
      return backend.typedArrayFromHeap({ dataId: tensor.dataId, shape: tensor.shape, dtype: 'float32' }) as Float32Array;
    },
    allocate(shape) {
      const backend = wasmBackend();
      const info = backend.makeOutput([...shape], 'float32');
      const tensor = tf.engine().makeTensorFromTensorInfo(info);
      return { tensor, data: backend.typedArrayFromHeap(info) as Float32Array };
    },
  });
}
