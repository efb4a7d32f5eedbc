/**
 * Gradient registrations every package relies on, imported once by core before any gradient is taken.
 *
 * 1. The Node bundle of @tensorflow/tfjs-core registers no gradient functions; the umbrella package
 *    @tensorflow/tfjs does when it loads (and shares the same tfjs-core instance).
 *
 * 2. Second-order gradients (a gradient of a gradient, as in gradient matching or gradient canceling)
 *    are wrong in tfjs-core 4.22 for every op whose gradient reads the op's own *output*
 *    (`outputsToSave`: Exp, Sigmoid, Tanh, Softmax, …). The engine saves that output by recording an
 *    Identity ("clone") node on the tape *before* the node of the op that produced it
 *    (`Engine.saveTensorsForBackwardMode`, called inside the kernel, ahead of `addTapeNode`), and
 *    `getFilteredNodesXToY` (tape.js) marks what depends on x in one sweep in tape order, so it never
 *    sees that the saved copy depends on x: an outer `tf.grad` treats e.g. exp(x) inside
 *    ∂exp(x)/∂x = exp(x) as a constant. First-order gradients are unaffected. The fix re-registers
 *    those gradients so that they save the *input* and recompute the output from it (same values
 *    to the bit, so first-order results do not change; one extra element-wise op).
 *
 *    `tf.logSoftmax` is a `customGrad` op whose saved value is made inside its own forward pass, so it
 *    cannot be repaired by a registration; a twice-differentiable log-softmax is x − logSumExp(x)
 *    (`tf.logSumExp` is built from max, sub, exp, sum and log, all correct at second order with the
 *    Exp fix). `crossEntropyPerExample` keeps `tf.logSoftmax` (first order, bit-identical to before);
 *    code that differentiates twice uses the logSumExp form (packages/attacks/src/surrogate.ts).
 *
 * 3. Three kernels that appear in gradients have no gradient at all in tfjs-core 4.22, which made
 *    double backprop throw: `Conv2DBackpropFilter` (the filter gradient of conv2d), `MaxPoolGrad`
 *    (the input gradient of max pooling) and `Equal` (the arg-max mask in the gradient of `max`, used
 *    by `logSumExp`; a comparison, so its gradient is zero). All are registered here.
 *
 * Checked against central finite differences on the wasm and cpu backends (tf-gradients.test.ts).
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
// Types only, for what loading the umbrella adds to tensors at run time (the chained ops, x.reshape(…)).
import type {} from '@tensorflow/tfjs';

// Loaded for its side effect (the gradient registrations of point 1) with require: an ES import of
// this CommonJS bundle makes Node scan it and every package it re-exports (layers, converter, data,
// webgl) for export names, ~0.1 s of every process's start-up; the gradients land in the same
// tfjs-core instance either way.
createRequire(import.meta.url)('@tensorflow/tfjs');

tf.registerGradient({
  kernelName: 'Exp',
  inputsToSave: ['x'],
  gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.exp(x)) }),
});

tf.registerGradient({
  kernelName: 'Sigmoid',
  inputsToSave: ['x'],
  gradFunc: (dy, [x]) => ({
    x: () => {
      const y = tf.sigmoid(x);
      return tf.mul(dy as tf.Tensor, tf.mul(y, tf.sub(1, y)));
    },
  }),
});

tf.registerGradient({
  kernelName: 'Tanh',
  inputsToSave: ['x'],
  gradFunc: (dy, [x]) => ({ x: () => tf.mul(tf.sub(1, tf.square(tf.tanh(x))), dy as tf.Tensor) }),
});

tf.registerGradient({
  kernelName: 'Softmax',
  inputsToSave: ['logits'],
  gradFunc: (dy, [logits], attrs) => ({
    logits: () => {
      const { dim } = attrs as unknown as tf.SoftmaxAttrs;
      const y = tf.softmax(logits, dim);
      const dyTimesY = tf.mul(dy as tf.Tensor, y);
      return tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [dim], true), y));
    },
  }),
});

tf.registerGradient({
  kernelName: 'Equal',
  gradFunc: (_, [a, b]) => ({ a: () => tf.zerosLike(a), b: () => tf.zerosLike(b) }),
  inputsToSave: ['a', 'b'],
});

// dW = Conv2DBackpropFilter(x, dy) is bilinear in (x, dy): for an upstream gradient G of dW,
// ⟨G, dW⟩ = ⟨dy, conv2d(x, G)⟩, so ∂/∂dy = conv2d(x, G) and ∂/∂x = conv2DBackpropInput(x.shape, dy, G).
tf.registerGradient({
  kernelName: 'Conv2DBackpropFilter',
  inputsToSave: ['x', 'dy'],
  gradFunc: (g, [x, dy], attrs) => {
    const { strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    const G = g as tf.Tensor4D;
    const format = dataFormat === 'NCHW' ? 'NCHW' : 'NHWC';
    return {
      x: () => tf.conv2dTranspose(dy as tf.Tensor4D, G, x.shape as [number, number, number, number], strides, pad as 'valid' | 'same' | number, dimRoundingMode),
      dy: () => tf.conv2d(x as tf.Tensor4D, G, strides, pad as 'valid' | 'same' | number, format, 1, dimRoundingMode),
    };
  },
});

// dx = MaxPoolGrad(dy, x) routes each window's dy to the window's arg-max (S^T dy for a 0/1 selection S
// that is piecewise constant in x). Its adjoint in dy is S·G: the upstream G read at each window's
// arg-max. For non-overlapping windows (filter = stride, no padding) that is the window sum of
// M ⊙ G with M = MaxPoolGrad(1, x), the backend's own arg-max indicator (so ties are broken as the
// forward gradient breaks them). x and the pooled output get zero gradient (S is locally constant).
tf.registerGradient({
  kernelName: 'MaxPoolGrad',
  inputsToSave: ['dy', 'input', 'output'],
  gradFunc: (g, [dy, input, output], attrs) => {
    const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
    const [fh, fw] = typeof filterSize === 'number' ? [filterSize, filterSize] : filterSize;
    const [sh, sw] = typeof strides === 'number' ? [strides, strides] : strides;
    if (fh !== sh || fw !== sw || (pad !== 'valid' && pad !== 0)) {
      throw new Error(`second-order gradient of maxPool is implemented for non-overlapping windows only (filter size = strides, pad 'valid'); got filter [${fh}, ${fw}], strides [${sh}, ${sw}], pad ${JSON.stringify(pad)}`);
    }
    return {
      dy: () => {
        const indicator = tf.engine().runKernel('MaxPoolGrad', { dy: tf.onesLike(dy), input, output }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
        return tf.mul(tf.avgPool(tf.mul(indicator, g as tf.Tensor4D) as tf.Tensor4D, [fh, fw], [sh, sw], 'valid', dimRoundingMode), fh * fw);
      },
      input: () => tf.zerosLike(input),
      output: () => tf.zerosLike(output),
    };
  },
});
