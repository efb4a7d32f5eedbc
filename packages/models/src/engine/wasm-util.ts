/**
 * Helpers for kernels composed from other wasm kernels. They call kernel functions directly (no
 * engine bookkeeping, no tensors tracked), so every intermediate must be released with `release`.
 */
import * as tf from '@tensorflow/tfjs-core';

/** A WebAssembly.Memory (typed locally: the project's lib settings carry no DOM types). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

/** The parts of the wasm backend these kernels use. */
export interface WasmBackend extends tf.KernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
  /** How many tensors share this data. */
  refCount(dataId: object): number;
  typedArrayFromHeap(info: tf.TensorInfo): tf.backend_util.TypedArray;
  numDataIds(): number;
  readonly dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  /** The Emscripten module: its allocator, and its exports (`asm.memory` is the heap). */
  readonly wasm: {
    _malloc(bytes: number): number;
    _free(pointer: number): void;
    readonly asm?: { readonly memory?: WasmMemory };
    readonly wasmMemory?: WasmMemory;
  };
}

/** Byte address of a tensor's data in the wasm heap. */
export function heapAddress(backend: WasmBackend, info: tf.TensorInfo): number {
  const data = backend.dataIdMap.get(info.dataId);
  if (!data) throw new Error('tensor is not on the wasm backend');
  return data.memoryOffset;
}

/** Kernel configs as wasm registered them before this project replaced any (see wasm-kernels.ts). */
const stockKernels = new Map<string, tf.KernelConfig>();

/** Remembers the stock wasm config of `kernelName` (once), so replacements can delegate to it. */
export function rememberStockKernel(kernelName: string): tf.KernelConfig | undefined {
  if (!stockKernels.has(kernelName)) {
    const config = tf.getKernel(kernelName, 'wasm');
    if (config) stockKernels.set(kernelName, config);
  }
  return stockKernels.get(kernelName);
}

/** The stock wasm kernel config, if wasm has one. */
export function stockKernel(kernelName: string): tf.KernelConfig | undefined {
  return stockKernels.get(kernelName) ?? tf.getKernel(kernelName, 'wasm');
}

/** Runs the currently registered wasm kernel `kernelName`. */
export function callKernel(
  backend: WasmBackend,
  kernelName: string,
  inputs: Record<string, tf.TensorInfo>,
  attrs: Record<string, unknown> = {},
): tf.TensorInfo {
  const config = tf.getKernel(kernelName, 'wasm');
  if (!config) throw new Error(`wasm has no kernel ${kernelName}`);
  return config.kernelFunc({ inputs, attrs: attrs as tf.NamedAttrMap, backend }) as tf.TensorInfo;
}

/** Runs the stock wasm kernel `kernelName` (bypassing this project's replacement). */
export function callStockKernel(
  backend: WasmBackend,
  kernelName: string,
  inputs: Record<string, tf.TensorInfo>,
  attrs: Record<string, unknown> = {},
): tf.TensorInfo {
  const config = stockKernel(kernelName);
  if (!config) throw new Error(`wasm has no stock kernel ${kernelName}`);
  return config.kernelFunc({ inputs, attrs: attrs as tf.NamedAttrMap, backend }) as tf.TensorInfo;
}

/** A view of `info` with another shape of the same size (no copy; do not release it separately). */
export function view(info: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/** Permutes dimensions (a copy unless the permutation is trivial). */
export function transpose(backend: WasmBackend, x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
  return callKernel(backend, 'Transpose', { x }, { perm });
}

/** Releases intermediates made by kernel calls (undefined entries are skipped). */
export function release(backend: WasmBackend, ...infos: (tf.TensorInfo | undefined)[]): void {
  for (const info of infos) if (info) backend.disposeData(info.dataId);
}
