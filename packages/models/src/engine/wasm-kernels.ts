/**
 * Kernels this project gives the wasm backend, registered before it initialises:
 * - Conv2DBackpropFilter, which stock wasm lacks (needed to train conv nets);
 * - faster replacements for Conv2DBackpropInput (stride 1, as an XNNPACK convolution) and for
 *   BatchMatMul with transposed operands, which stock wasm runs as scalar loops;
 * - a MaxPoolGrad that agrees with the cpu backend (the stock one drops the gradient of windows
 *   whose values are all ≤ 0, and breaks ties differently), and a Sum over leading axes (the bias
 *   gradient) that skips the stock kernel's transpose;
 * - Identity and same-dtype Cast that share the data instead of copying it (share-data.ts);
 * - UnsortedSegmentSum, the gradient of Gather (embedding lookups), which stock wasm lacks.
 * The filter gradient, MaxPoolGrad and Sum run hand-written SIMD code (simd-kernels.wat) on the
 * backend's heap (its shared heap on the threaded build, wasm-threads.ts). Replacements keep the
 * stock kernel's setup function and delegate to it where they do not apply.
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchMatMulKernel } from './batch-mat-mul.ts';
import { conv2dBackpropFilterKernel, setFilterGradFormulation } from './conv2d-backprop-filter.ts';
import { conv2dBackpropInputKernel } from './conv2d-backprop-input.ts';
import { maxPoolGradKernel } from './max-pool-grad.ts';
import { SGD_UPDATE_KERNEL, SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL, SOFTMAX_CROSS_ENTROPY_KERNEL } from '@unlearn-bench/core';
import {
  DENSE_STACK_INPUT_GRAD_KERNEL,
  DENSE_STACK_LOSS_GRADS_KERNEL,
  nativeBatchMatMul,
  nativeConv2D,
  nativeConv2DBackpropFilter,
  nativeConv2DBackpropInput,
  nativeDenseStackInputGrad,
  nativeDenseStackLossGrads,
  nativeFusedConv2D,
  nativeFusedMatMul,
  nativeMaxPool,
  nativeMaxPoolGrad,
  nativeReluGrad,
  nativeSgdUpdate,
  nativeSoftmaxCrossEntropy,
  nativeSoftmaxCrossEntropyGrad,
  nativeSum,
  RELU_GRAD_KERNEL,
  type Fallback,
} from './native-kernels.ts';
import { castKernel, identityKernel } from './share-data.ts';
import { sumKernel } from './sum.ts';
import { unsortedSegmentSumKernel } from './unsorted-segment-sum.ts';
import { rememberStockKernel, type WasmBackend } from './wasm-util.ts';

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
  // The native kernels fall back to the wasm ones registered under them: take them off and back on.
  const native = nativeActive;
  useNativeKernels(false);
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
  // Gather's gradient (embedding lookups, core/gpt2), which stock wasm lacks.
  if (!tf.getKernel('UnsortedSegmentSum', 'wasm')) {
    tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSumKernel });
  }
  setFilterGradFormulation(set === 'fast' ? 'auto' : 'perTap');
  installed = set;
  useNativeKernels(native);
}

const NATIVE: Record<string, (fallback: Fallback) => tf.KernelFunc> = {
  BatchMatMul: nativeBatchMatMul,
  _FusedMatMul: nativeFusedMatMul,
  Conv2D: nativeConv2D,
  FusedConv2D: nativeFusedConv2D,
  Conv2DBackpropInput: nativeConv2DBackpropInput,
  Conv2DBackpropFilter: nativeConv2DBackpropFilter,
  MaxPool: nativeMaxPool,
  MaxPoolGrad: nativeMaxPoolGrad,
  Sum: nativeSum,
};

/**
 * Kernels wasm does not have, registered with the native ones: the ReLU gradient in one pass
 * (fused-ops.ts), and core's one-pass SGD step and softmax cross-entropy with its gradient (which
 * core uses where a backend registers them).
 */
const NATIVE_ONLY: Record<string, tf.KernelFunc> = {
  [RELU_GRAD_KERNEL]: nativeReluGrad,
  [SGD_UPDATE_KERNEL]: nativeSgdUpdate,
  [SOFTMAX_CROSS_ENTROPY_KERNEL]: nativeSoftmaxCrossEntropy,
  [SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL]: nativeSoftmaxCrossEntropyGrad,
  [DENSE_STACK_INPUT_GRAD_KERNEL]: nativeDenseStackInputGrad,
  [DENSE_STACK_LOSS_GRADS_KERNEL]: nativeDenseStackLossGrads,
};

/** The wasm kernels the native ones replaced (and fall back to), while they are registered. */
const underNative = new Map<string, tf.KernelConfig>();
let nativeActive = false;

const callUnderNative: Fallback = (name, inputs, attrs, backend: WasmBackend) =>
  underNative.get(name)!.kernelFunc({ inputs, attrs, backend }) as tf.TensorInfo;

/**
 * Registers the native kernels over the wasm ones (`true`) or puts the wasm ones back (`false`).
 * The caller checks that the addon loads (native-kernels.ts `loadNativeAddon`).
 */
export function useNativeKernels(on: boolean): void {
  if (on === nativeActive) return;
  if (on) registerWasmKernels();
  for (const [kernelName, make] of Object.entries(NATIVE)) {
    if (on) {
      const config = tf.getKernel(kernelName, 'wasm');
      if (!config) continue;
      underNative.set(kernelName, config);
      tf.unregisterKernel(kernelName, 'wasm');
      tf.registerKernel({ ...config, kernelFunc: make(callUnderNative) });
    } else {
      const config = underNative.get(kernelName);
      if (!config) continue;
      tf.unregisterKernel(kernelName, 'wasm');
      tf.registerKernel(config);
    }
  }
  for (const [kernelName, kernelFunc] of Object.entries(NATIVE_ONLY)) {
    if (on) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
    else if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
  }
  if (!on) underNative.clear();
  nativeActive = on;
}

/** Whether the native kernels are registered. */
export function nativeKernelsActive(): boolean {
  return nativeActive;
}

/** The kernel set in use, if any. */
export function wasmKernelSet(): WasmKernelSet | undefined {
  return installed;
}
