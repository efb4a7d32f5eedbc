/**
 * Conv2D filter gradient for the wasm backend, built from kernels wasm already has.
 * For each filter tap (kh, kw): dW[kh, kw] = patchesᵀ · dy, where patches are the input pixels that
 * tap sees at every output position (a strided slice of the padded input).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Kernel function for `Conv2DBackpropFilter` (NHWC), registered for wasm. */
export const conv2dBackpropFilterKernel: tf.KernelFunc = ({ inputs, attrs }) => {
  const { x, dy } = inputs as unknown as { x: tf.Tensor4D; dy: tf.Tensor4D };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (dataFormat !== 'NHWC') throw new Error(`Conv2DBackpropFilter on wasm supports NHWC only, got ${dataFormat}`);
  return tf.tidy(() => {
    const conv = tf.backend_util.computeConv2DInfo(
      x.shape,
      filterShape as [number, number, number, number],
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const { batchSize, inChannels, outChannels, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = conv;
    const { top, left, bottom, right } = conv.padInfo;
    const padded = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]);
    const dyFlat = tf.reshape(dy, [batchSize * outHeight * outWidth, outChannels]);
    const taps: tf.Tensor[] = [];
    for (let kh = 0; kh < filterHeight; kh++) {
      for (let kw = 0; kw < filterWidth; kw++) {
        const patch = tf.stridedSlice(
          padded,
          [0, kh, kw, 0],
          [batchSize, kh + (outHeight - 1) * strideHeight + 1, kw + (outWidth - 1) * strideWidth + 1, inChannels],
          [1, strideHeight, strideWidth, 1],
        );
        const flat = tf.reshape(patch, [batchSize * outHeight * outWidth, inChannels]);
        taps.push(tf.matMul(flat, dyFlat, true, false));
      }
    }
    return tf.reshape(tf.stack(taps), [filterHeight, filterWidth, inChannels, outChannels]);
  }) as unknown as tf.TensorInfo;
};
