/**
 * Conv2D input gradient for wasm. The stock wasm kernel is a scalar C++ loop (about 1 GMAC/s);
 * for stride 1 the input gradient is a forward convolution, which XNNPACK runs several times faster:
 *
 *   dx[b, h, w, ci] = Σ_{kh, kw, co} dy[b, h + top − kh, w + left − kw, co] · W[kh, kw, ci, co]
 *                   = conv2d(dy padded by (KH−1−top, H−OH+top), W flipped in kh, kw and with
 *                     ci/co swapped, 'valid')
 *
 * Strided convolutions (and paddings wider than the filter) keep the stock kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { callKernel, callStockKernel, release, transpose, type WasmBackend } from './wasm-util.ts';

/** Kernel function for `Conv2DBackpropInput` (NHWC), registered for wasm. */
export const conv2dBackpropInputKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { dy, filter } = inputs as unknown as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const wasm = backend as WasmBackend;
  const conv = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
  const { top, left } = conv.padInfo;
  const { filterHeight, filterWidth, inHeight, inWidth, outHeight, outWidth } = conv;
  const padTop = filterHeight - 1 - top;
  const padBottom = inHeight - outHeight + top;
  const padLeft = filterWidth - 1 - left;
  const padRight = inWidth - outWidth + left;
  const fast =
    conv.dataFormat === 'channelsLast' &&
    dy.dtype === 'float32' &&
    filter.dtype === 'float32' &&
    conv.strideHeight === 1 &&
    conv.strideWidth === 1 &&
    Math.min(padTop, padBottom, padLeft, padRight) >= 0;
  if (!fast) return callStockKernel(wasm, 'Conv2DBackpropInput', { dy, filter }, attrs as Record<string, unknown>);
  const flipped = callKernel(wasm, 'Reverse', { x: filter }, { dims: [0, 1] });
  const swapped = transpose(wasm, flipped, [0, 1, 3, 2]);
  release(wasm, flipped);
  const dx = callKernel(
    wasm,
    'Conv2D',
    { x: dy, filter: swapped },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [padTop, padBottom],
        [padLeft, padRight],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [1, 1],
      dimRoundingMode: undefined,
    },
  );
  release(wasm, swapped);
  return dx;
};
