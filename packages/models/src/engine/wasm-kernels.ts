/**
 * Kernels this project gives the wasm backend, registered before it initialises:
 * - Conv2DBackpropFilter, which stock wasm lacks (needed to train conv nets);
 * - faster replacements for Conv2DBackpropInput (stride 1, as an XNNPACK convolution) and for
 *   BatchMatMul with transposed operands, which stock wasm runs as scalar loops;
 * - a MaxPoolGrad that agrees with the cpu backend (the stock one drops the gradient of windows
 *   whose values are all ≤ 0, and breaks ties differently), and a Sum over leading axes (the bias
 *   gradient) that skips the stock kernel's transpose;
 * - Identity and same-dtype Cast that share the data instead of copying it (share-data.ts).
 * The filter gradient, MaxPoolGrad and Sum run hand-written SIMD code (simd-kernels.wat) on the
 * backend's heap (its shared heap on the threaded build, wasm-threads.ts). Replacements keep the
 * stock kernel's setup function and delegate to it where they do not apply.
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchMatMulKernel } from './batch-mat-mul.ts';
import { conv2dBackpropFilterKernel, setFilterGradFormulation } from './conv2d-backprop-filter.ts';
import { conv2dBackpropInputKernel } from './conv2d-backprop-input.ts';
import { maxPoolGradKernel } from './max-pool-grad.ts';
import { castKernel, identityKernel } from './share-data.ts';
import { sumKernel } from './sum.ts';
import { rememberStockKernel } from './wasm-util.ts';

/**
 * `fast`: everything above. `baseline`: stock wasm kernels plus the first, per-tap filter gradient
 * (what this project had before; for benchmarks and comparisons only).
 */
export type WasmKernelSet = 'fast' | 'baseline';

const REPLACED: Record<string, tf.KernelFunc> = {
  Conv2DBackpropInput: conv2dBackpropInputKernel,
  BatchMatMul: batchMatMulKernel,
  MaxPoolGrad: maxPoolGradKernel,
  Sum: sumKernel,
  Identity: identityKernel,
  Cast: castKernel,
};

let installed: WasmKernelSet | undefined;

/** Registers the project's extra wasm kernels (idempotent; the `fast` set). */
export function registerWasmKernels(): void {
  if (installed === undefined) useWasmKernels('fast');
}

/** Switches between the project's kernels and the stock ones (see WasmKernelSet). */
export function useWasmKernels(set: WasmKernelSet): void {
  if (installed === set) return;
  for (const [kernelName, kernelFunc] of Object.entries(REPLACED)) {
    const stock = rememberStockKernel(kernelName);
    if (!stock) continue;
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel(set === 'fast' ? { ...stock, kernelFunc } : stock);
  }
  // A later tfjs-backend-wasm may bring its own filter gradient; keep it if so.
  if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilterKernel });
  }
  setFilterGradFormulation(set === 'fast' ? 'auto' : 'perTap');
  installed = set;
}

/** The kernel set in use, if any. */
export function wasmKernelSet(): WasmKernelSet | undefined {
  return installed;
}
