/**
 * Kernels the stock wasm backend lacks, registered once. Conv2DBackpropFilter is needed to train
 * convolutional nets on wasm.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2dBackpropFilterKernel } from './conv2d-backprop-filter.ts';

let registered = false;

/** Registers the project's extra wasm kernels (idempotent). */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilterKernel });
  }
}
