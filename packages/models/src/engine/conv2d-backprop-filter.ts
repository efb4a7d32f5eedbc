/**
 * Conv2D filter gradient for the wasm backend, which has no `Conv2DBackpropFilter` kernel.
 *
 *   dW[kh, kw, ci, co] = Σ_{b, oh, ow} xPadded[b, oh·sh + kh, ow·sw + kw, ci] · dy[b, oh, ow, co]
 *
 * Formulations (bench-conv-grad.ts times them; `auto` is what training uses):
 * - `direct` (auto's choice): a hand-written SIMD kernel (simd-kernels.wat) that accumulates tiles of
 *   4 filter rows × 8 output channels straight from x and dy. No transposes, no weight packing. On
 *   the threaded wasm build a helper thread computes half of the batch (simd-helper.ts).
 * - `asConv` (auto's fallback where the SIMD module cannot load): the sum *is* a forward convolution
 *   once the batch moves into the channel dimension, which XNNPACK runs:
 *     conv2d(xᵀ [Cin, H, W, B], dyᵀ [OH, OW, B, Cout] as the filter, stride 1,
 *            dilation = the forward stride, padding = the forward padding) = [Cin, KH, KW, Cout].
 *   XNNPACK repacks dy as weights on every call, which dominates when Cin is small.
 * - `asConvT`: the mirror image for stride 1 (dy as the input, x as the filter).
 * - `perTap` (the first version) and `im2col`: matmul formulations, kept for comparison.
 */
import * as tf from '@tensorflow/tfjs-core';
import { helperWanted, runWithHelper, type FilterGradArgs } from './simd-helper.ts';
import { simdKernels } from './simd-kernels.ts';
import { callKernel, heapAddress, release, transpose, type WasmBackend } from './wasm-util.ts';

/** How the filter gradient is computed; `auto` picks the fastest available. */
export type FilterGradFormulation = 'auto' | 'direct' | 'asConv' | 'asConvT' | 'im2col' | 'perTap';

let formulation: FilterGradFormulation = 'auto';

/** Selects the formulation (for benchmarks and tests; the default `auto` is what training uses). */
export function setFilterGradFormulation(value: FilterGradFormulation): void {
  formulation = value;
}

/** The formulation in use. */
export function getFilterGradFormulation(): FilterGradFormulation {
  return formulation;
}

/** Kernel function for `Conv2DBackpropFilter` (NHWC), registered for wasm. */
export const conv2dBackpropFilterKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { x, dy } = inputs as unknown as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (dataFormat !== 'NHWC') throw new Error(`Conv2DBackpropFilter on wasm supports NHWC only, got ${dataFormat}`);
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') throw new Error('Conv2DBackpropFilter on wasm supports float32 only');
  const conv = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const wasm = backend as WasmBackend;
  const chosen = formulation === 'auto' ? pickFormulation(wasm) : formulation;
  switch (chosen) {
    case 'direct':
      if (simdKernels(wasm)) return filterGradDirect(wasm, x, dy, conv);
      return filterGradAsConv(wasm, x, dy, conv);
    case 'asConvT':
      if (asConvTApplies(conv)) return filterGradAsConvT(wasm, x, dy, conv);
      return filterGradAsConv(wasm, x, dy, conv);
    case 'perTap':
      return filterGradPerTap(x, dy, conv) as unknown as tf.TensorInfo;
    case 'im2col':
      return filterGradIm2col(x, dy, conv) as unknown as tf.TensorInfo;
    default:
      return filterGradAsConv(wasm, x, dy, conv);
  }
};

/** The hand-written SIMD kernel wherever it loads (it beat every XNNPACK formulation); else asConv. */
function pickFormulation(backend: WasmBackend): FilterGradFormulation {
  return simdKernels(backend) ? 'direct' : 'asConv';
}

/** The dW formulation as one XNNPACK convolution with dy as the filter (any stride, any padding). */
export function filterGradAsConv(
  backend: WasmBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  conv: tf.backend_util.Conv2DInfo,
): tf.TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels, outChannels, outHeight, outWidth } = conv;
  const { filterHeight, filterWidth, strideHeight, strideWidth } = conv;
  const { top, left } = conv.padInfo;
  // Extent of the padded input that the taps actually read; rows/columns past it (left over by
  // the stride) are cropped so that the convolution's output is exactly KH × KW.
  const needH = filterHeight - 1 + (outHeight - 1) * strideHeight + 1;
  const needW = filterWidth - 1 + (outWidth - 1) * strideWidth + 1;
  const useH = Math.min(inHeight, needH - top);
  const useW = Math.min(inWidth, needW - left);
  if (useH <= 0 || useW <= 0) return zeros(backend, [filterHeight, filterWidth, inChannels, outChannels]);
  const cropped =
    useH < inHeight || useW < inWidth
      ? callKernel(backend, 'Slice', { x }, { begin: [0, 0, 0, 0], size: [batchSize, useH, useW, inChannels] })
      : undefined;
  const xT = transpose(backend, cropped ?? x, [3, 1, 2, 0]);
  const dyT = transpose(backend, dy, [1, 2, 0, 3]);
  const r = callKernel(
    backend,
    'Conv2D',
    { x: xT, filter: dyT },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [top, needH - top - useH],
        [left, needW - left - useW],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [strideHeight, strideWidth],
      dimRoundingMode: undefined,
    },
  );
  release(backend, cropped, xT, dyT);
  const out = transpose(backend, r, [1, 2, 0, 3]);
  release(backend, r);
  return out;
}

function asConvTApplies(conv: tf.backend_util.Conv2DInfo): boolean {
  const { top, left } = conv.padInfo;
  return (
    conv.strideHeight === 1 &&
    conv.strideWidth === 1 &&
    top <= conv.filterHeight - 1 &&
    left <= conv.filterWidth - 1 &&
    conv.inHeight + top >= conv.outHeight &&
    conv.inWidth + left >= conv.outWidth
  );
}

/**
 * Stride 1 only: dW flipped = conv2d(dyᵀ [Cout, OH, OW, B] padded, xᵀ [H, W, B, Cin] as the filter),
 * because Σ_h x[h] · dy[h + top − kh] slides dy past x.
 */
export function filterGradAsConvT(
  backend: WasmBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  conv: tf.backend_util.Conv2DInfo,
): tf.TensorInfo {
  const { inHeight, inWidth, outHeight, outWidth, filterHeight, filterWidth } = conv;
  const { top, left } = conv.padInfo;
  const dyT = transpose(backend, dy, [3, 1, 2, 0]);
  const xT = transpose(backend, x, [1, 2, 0, 3]);
  const r = callKernel(
    backend,
    'Conv2D',
    { x: dyT, filter: xT },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [filterHeight - 1 - top, inHeight + top - outHeight],
        [filterWidth - 1 - left, inWidth + left - outWidth],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [1, 1],
      dimRoundingMode: undefined,
    },
  );
  release(backend, dyT, xT);
  const flipped = callKernel(backend, 'Reverse', { x: r }, { dims: [1, 2] });
  release(backend, r);
  const out = transpose(backend, flipped, [1, 2, 3, 0]);
  release(backend, flipped);
  return out;
}

/**
 * The hand-written SIMD kernel (simd-kernels.wat): accumulates 4 filter rows × 8 output channels
 * per pass over a cache-sized chunk of dy, reading x through per-row offsets into a padded copy.
 * No transposes and no weight packing, which is what the XNNPACK formulations spend most of their
 * time on when Cin is small.
 */
export function filterGradDirect(
  backend: WasmBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  conv: tf.backend_util.Conv2DInfo,
): tf.TensorInfo {
  const kernels = simdKernels(backend);
  if (!kernels) throw new Error('the SIMD kernels are unavailable');
  const { batchSize, inHeight, inWidth, inChannels, outChannels, outHeight, outWidth } = conv;
  const { filterHeight, filterWidth, strideHeight, strideWidth } = conv;
  if (batchSize * outHeight * outWidth === 0) return zeros(backend, [filterHeight, filterWidth, inChannels, outChannels]);
  const { top, bottom, left, right } = conv.padInfo;
  const padded =
    top || bottom || left || right
      ? callKernel(backend, 'PadV2', { x }, { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 })
      : undefined;
  // The kernel works on 8 output channels at a time: other counts get dy zero-padded to a multiple.
  const channels = Math.ceil(outChannels / 8) * 8;
  const dyPadded =
    channels !== outChannels
      ? callKernel(backend, 'PadV2', { x: dy }, { paddings: [[0, 0], [0, 0], [0, 0], [0, channels - outChannels]], constantValue: 0 })
      : undefined;
  const paddedWidth = inWidth + left + right;
  const pixelBytes = inChannels * 4;
  const rows = filterHeight * filterWidth * inChannels;
  const rowsPadded = Math.ceil(rows / 4) * 4;
  const out = backend.makeOutput([filterHeight, filterWidth, inChannels, outChannels], 'float32');
  const scratch = backend.wasm._malloc(rowsPadded * 4 + rowsPadded * channels * 4);
  try {
    const offs = scratch;
    const acc = scratch + rowsPadded * 4;
    // Views made after the last allocation (growing the memory detaches older ones).
    const heapI32 = new Int32Array(kernels.memory.buffer);
    let heapF32 = new Float32Array(kernels.memory.buffer);
    let k = 0;
    for (let kh = 0; kh < filterHeight; kh++) {
      for (let kw = 0; kw < filterWidth; kw++) {
        for (let ci = 0; ci < inChannels; ci++) heapI32[offs / 4 + k++] = (kh * paddedWidth + kw) * pixelBytes + ci * 4;
      }
    }
    heapI32.fill(0, offs / 4 + rows, offs / 4 + rowsPadded);
    heapF32.fill(0, acc / 4, acc / 4 + rowsPadded * channels);
    const xAddress = heapAddress(backend, padded ?? x);
    const dyAddress = heapAddress(backend, dyPadded ?? dy);
    const imageBytes = (inHeight + top + bottom) * paddedWidth * pixelBytes;
    const dyImageBytes = outHeight * outWidth * channels * 4;
    const run = (accumulator: number, from: number, count: number): void =>
      kernels.filter_grad(
        xAddress + from * imageBytes,
        dyAddress + from * dyImageBytes,
        accumulator,
        offs,
        count,
        outHeight,
        outWidth,
        channels,
        rowsPadded,
        imageBytes,
        strideHeight * paddedWidth * pixelBytes,
        strideWidth * pixelBytes,
        Math.max(1, Math.floor(16384 / (outWidth * channels * 4))),
      );
    // The batch is always reduced as two halves, each from zero, summed in one order: on the
    // threaded build a helper thread computes the first half (simd-helper.ts), otherwise this thread
    // does, so the gradient is bit-identical whatever the thread count.
    const half = batchSize >> 1;
    const accSize = rowsPadded * channels;
    const zeroed = (): number => {
      const address = backend.wasm._malloc(accSize * 4);
      new Float32Array(kernels.memory.buffer, address, accSize).fill(0);
      return address;
    };
    if (half === 0) run(acc, 0, batchSize);
    else {
      let part = zeroed();
      let outcome: ReturnType<typeof runWithHelper> = 'no-helper';
      if (helperWanted(backend)) {
        const args: FilterGradArgs = [
          xAddress, dyAddress, part, offs, half, outHeight, outWidth, channels, rowsPadded, imageBytes,
          strideHeight * paddedWidth * pixelBytes, strideWidth * pixelBytes, Math.max(1, Math.floor(16384 / (outWidth * channels * 4))),
        ];
        const spare = { address: 0 };
        outcome = runWithHelper(backend, kernels.memory, kernels.module, args, () => run(acc, half, batchSize - half), () => {
          // A failed helper may still write its accumulator: leave it allocated, use a fresh one.
          spare.address = zeroed();
          run(spare.address, 0, half);
        });
        if (outcome === 'helper-failed') part = spare.address;
      }
      if (outcome === 'no-helper') {
        run(part, 0, half);
        run(acc, half, batchSize - half);
      }
      const sum = new Float32Array(kernels.memory.buffer, acc, accSize);
      const first = new Float32Array(kernels.memory.buffer, part, accSize);
      for (let i = 0; i < accSize; i++) sum[i] += first[i];
      backend.wasm._free(part);
    }
    heapF32 = new Float32Array(kernels.memory.buffer);
    const target = heapAddress(backend, out) / 4;
    if (channels === outChannels) {
      heapF32.copyWithin(target, acc / 4, acc / 4 + rows * outChannels);
    } else {
      for (let r = 0; r < rows; r++) {
        const from = acc / 4 + r * channels;
        heapF32.copyWithin(target + r * outChannels, from, from + outChannels);
      }
    }
  } finally {
    backend.wasm._free(scratch);
    release(backend, padded, dyPadded);
  }
  return out;
}

function zeros(backend: WasmBackend, shape: number[]): tf.TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  backend.typedArrayFromHeap(out).fill(0);
  return out;
}

function tapSlice(padded: tf.Tensor4D, conv: tf.backend_util.Conv2DInfo, kh: number, kw: number): tf.Tensor4D {
  const { batchSize, inChannels, outHeight, outWidth, strideHeight, strideWidth } = conv;
  return tf.stridedSlice(
    padded,
    [0, kh, kw, 0],
    [batchSize, kh + (outHeight - 1) * strideHeight + 1, kw + (outWidth - 1) * strideWidth + 1, inChannels],
    [1, strideHeight, strideWidth, 1],
  ) as tf.Tensor4D;
}

function padInput(x: tf.TensorInfo, conv: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const { top, left, bottom, right } = conv.padInfo;
  return tf.pad(x as tf.Tensor4D, [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ]);
}

/** Reference formulation (the first version): per tap, a strided slice and patchᵀ · dy. */
export function filterGradPerTap(x: tf.TensorInfo, dy: tf.TensorInfo, conv: tf.backend_util.Conv2DInfo): tf.Tensor {
  return tf.tidy(() => {
    const { batchSize, inChannels, outChannels, outHeight, outWidth, filterHeight, filterWidth } = conv;
    const padded = padInput(x, conv);
    const dyFlat = tf.reshape(dy as tf.Tensor, [batchSize * outHeight * outWidth, outChannels]);
    const taps: tf.Tensor[] = [];
    for (let kh = 0; kh < filterHeight; kh++) {
      for (let kw = 0; kw < filterWidth; kw++) {
        const flat = tf.reshape(tapSlice(padded, conv, kh, kw), [batchSize * outHeight * outWidth, inChannels]);
        taps.push(tf.matMul(flat, dyFlat, true, false));
      }
    }
    return tf.reshape(tf.stack(taps), [filterHeight, filterWidth, inChannels, outChannels]);
  });
}

/**
 * im2col: the tap slices concatenated along channels ([B·OH·OW, KH·KW·Cin]), transposed so that
 * wasm's matmul takes its XNNPACK path (it has none for transposed operands), times dy.
 */
export function filterGradIm2col(x: tf.TensorInfo, dy: tf.TensorInfo, conv: tf.backend_util.Conv2DInfo): tf.Tensor {
  return tf.tidy(() => {
    const { batchSize, inChannels, outChannels, outHeight, outWidth, filterHeight, filterWidth } = conv;
    const rows = batchSize * outHeight * outWidth;
    const padded = padInput(x, conv);
    const taps: tf.Tensor4D[] = [];
    for (let kh = 0; kh < filterHeight; kh++) {
      for (let kw = 0; kw < filterWidth; kw++) taps.push(tapSlice(padded, conv, kh, kw));
    }
    const patches = tf.reshape(taps.length === 1 ? taps[0] : tf.concat(taps, 3), [rows, filterHeight * filterWidth * inChannels]);
    const dw = tf.matMul(tf.transpose(patches), tf.reshape(dy as tf.Tensor, [rows, outChannels]));
    return tf.reshape(dw, [filterHeight, filterWidth, inChannels, outChannels]);
  });
}
