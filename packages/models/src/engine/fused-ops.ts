/**
 * Dense and convolution layers with their bias and activation in one kernel, where the native
 * kernels run: `_FusedMatMul` and `FusedConv2D` add the bias and apply ReLU while the product's
 * output is still in cache, where matMul/conv2d + add + relu made two more passes over the
 * activations (and two more tensors). Elsewhere (wasm alone, cpu, tensorflow) the layers keep the
 * separate ops, so their results stay bit-identical to before.
 *
 * The two kernels are run directly (not through `tf.fused`, whose customGrad saves reshaped inputs
 * made inside its forward pass, which a second-order gradient cannot see through). Their gradients are
 * registered here from ordinary ops, so a gradient of a gradient (the attacks' gradient matching) is
 * right: the ReLU mask is applied by RELU_GRAD_KERNEL (one pass where the native kernels run, dy ·
 * step(y) elsewhere), whose own gradient is itself.
 *
 * The bits: the native kernels add the bias after the product, as a separate add does, and ReLU and
 * its gradient are exact, so a fused layer's values equal the separate ops' on the same kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { RELU_GRAD_KERNEL } from './native-kernels.ts';
import { nativeKernelsActive } from './wasm-kernels.ts';

/** A layer's activation. */
export type Activation = 'linear' | 'relu';

/** Whether layers run as fused kernels: the native kernels are registered and wasm runs. */
function fused(): boolean {
  return nativeKernelsActive() && tf.getBackend() === 'wasm';
}

/** `activation(x · kernel + bias)` for `x` `[batch, inputs]`, kernel `[inputs, units]`, bias `[units]`. */
export function denseOp(x: tf.Tensor2D, kernel: tf.Tensor, bias: tf.Tensor, activation: Activation): tf.Tensor2D {
  if (fused()) {
    const attrs = { transposeA: false, transposeB: false, activation, leakyreluAlpha: 0 };
    return tf.engine().runKernel('_FusedMatMul', { a: x, b: kernel, bias }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor2D;
  }
  const y = tf.add(tf.matMul(x, kernel as tf.Tensor2D), bias) as tf.Tensor2D;
  return activation === 'relu' ? tf.relu(y) : y;
}

/** `activation(conv2d(x, filter, stride 1, same) + bias)` for `x` `[batch, height, width, channels]`. */
export function conv2dSameOp(x: tf.Tensor4D, filter: tf.Tensor, bias: tf.Tensor, activation: Activation): tf.Tensor4D {
  if (fused()) {
    const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1], activation, leakyreluAlpha: 0 };
    return tf.engine().runKernel('FusedConv2D', { x, filter, bias }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
  }
  const y = tf.add(tf.conv2d(x, filter as tf.Tensor4D, 1, 'same'), bias) as tf.Tensor4D;
  return activation === 'relu' ? tf.relu(y) : y;
}

/** `dy · step(y)` (the ReLU gradient), in one kernel where the backend has RELU_GRAD_KERNEL. */
export function reluGrad(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  if (dy.dtype === 'float32' && y.dtype === 'float32' && tf.util.arraysEqual(dy.shape, y.shape) && tf.getKernel(RELU_GRAD_KERNEL, tf.getBackend())) {
    return tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, y }) as tf.Tensor;
  }
  return tf.mul(dy, tf.step(y));
}

/** The gradient through the activation: dy, or dy · step(y) for ReLU. */
function throughActivation(dy: tf.Tensor, y: tf.Tensor, activation: string): tf.Tensor {
  if (activation === 'linear') return dy;
  if (activation === 'relu') return reluGrad(dy, y);
  throw new Error(`fused-ops.ts: no gradient for the fused activation '${activation}' (layers use linear or relu)`);
}

/** Σ of `dz` over every axis but the last, shaped as the bias. */
function biasGradient(dz: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const axes = Array.from({ length: dz.rank - 1 }, (_, i) => i);
  return tf.reshape(tf.sum(dz, axes), bias.shape);
}

// d/d(dy) of dy · step(y) is step(y) (the same kernel); d/dy is 0 almost everywhere.
tf.registerGradient({
  kernelName: RELU_GRAD_KERNEL,
  inputsToSave: ['y'],
  gradFunc: (g, [y]) => ({ dy: () => reluGrad(g as tf.Tensor, y), y: () => tf.zerosLike(y) }),
});

// _FusedMatMul as denseOp runs it: a [m, k], b [k, n] (no transposes), a bias, linear or ReLU.
// The saved output y only enters through step(y), whose derivative is 0, so a second-order gradient
// that treats it as a constant (see core's tf-gradients.ts) is right.
tf.registerGradient({
  kernelName: '_FusedMatMul',
  inputsToSave: ['a', 'b', 'bias'],
  outputsToSave: [true],
  gradFunc: (dy, [a, b, bias, y], attrs) => {
    const { transposeA, transposeB, activation } = attrs as unknown as tf._FusedMatMulAttrs;
    if (transposeA || transposeB || a.rank !== 2 || b.rank !== 2) {
      throw new Error('fused-ops.ts: the _FusedMatMul gradient covers 2-D, untransposed operands (as denseOp runs it)');
    }
    const dz = throughActivation(dy as tf.Tensor, y, activation);
    return {
      a: () => tf.matMul(dz as tf.Tensor2D, b as tf.Tensor2D, false, true),
      b: () => tf.matMul(a as tf.Tensor2D, dz as tf.Tensor2D, true, false),
      bias: () => biasGradient(dz, bias),
    };
  },
});

// FusedConv2D as conv2dSameOp runs it (NHWC, dilation 1), through the backprop kernels that
// conv2d's own gradient uses.
tf.registerGradient({
  kernelName: 'FusedConv2D',
  inputsToSave: ['x', 'filter', 'bias'],
  outputsToSave: [true],
  gradFunc: (dy, [x, filter, bias, y], attrs) => {
    const { strides, pad, dataFormat, dilations, dimRoundingMode, activation } = attrs as unknown as tf.FusedConv2DAttrs;
    if (dataFormat !== 'NHWC' || !tf.backend_util.tupleValuesAreOne(dilations)) {
      throw new Error('fused-ops.ts: the FusedConv2D gradient covers NHWC with dilation 1 (as conv2dSameOp runs it)');
    }
    const dz = throughActivation(dy as tf.Tensor, y, activation);
    const common = { strides, pad, dataFormat, dimRoundingMode };
    return {
      x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: dz, filter }, { ...common, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
      filter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: dz }, { ...common, filterShape: filter.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
      bias: () => biasGradient(dz, bias),
    };
  },
});
