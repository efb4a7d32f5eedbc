/**
 * Identity and same-dtype Cast for wasm without a copy. The stock kernels copy the whole tensor,
 * and TF.js calls Identity for every tensor a gradient saves (`engine.saveTensorsForBackwardMode`
 * clones them) and Cast on every ReLU gradient (`cast(step(x), 'float32')`): 31 + 7 full copies per
 * cnn-small training step. Tensors are immutable, so, like the cpu backend, these return a new
 * reference to the same data (the backend's reference count keeps it alive).
 */
import * as tf from '@tensorflow/tfjs-core';
import { callStockKernel, type WasmBackend } from './wasm-util.ts';

function share(backend: WasmBackend, x: tf.TensorInfo): tf.TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/** Kernel function for `Identity`, registered for wasm. */
export const identityKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as unknown as { x: tf.TensorInfo };
  const wasm = backend as WasmBackend;
  if (x.dtype === 'string') return callStockKernel(wasm, 'Identity', { x });
  return share(wasm, x);
};

/** Kernel function for `Cast`, registered for wasm: shares the data when the dtype does not change. */
export const castKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { x } = inputs as unknown as { x: tf.TensorInfo };
  const { dtype } = attrs as unknown as tf.CastAttrs;
  const wasm = backend as WasmBackend;
  if (dtype !== x.dtype || x.dtype === 'string') return callStockKernel(wasm, 'Cast', { x }, attrs as Record<string, unknown>);
  return share(wasm, x);
};
