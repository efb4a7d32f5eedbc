/**
 * Optional native kernels for the wasm backend (packages/models/native/unlearn_blas.c): BatchMatMul,
 * _FusedMatMul (bias and ReLU), Conv2D and its two gradients through OpenBLAS's sgemm, computing in
 * place on the wasm heap. WebAssembly SIMD is 128 bits wide, which caps a wasm kernel near a quarter
 * of the CPU's float32 peak (shared/BENCHMARK.md); a tuned BLAS is not capped.
 *
 * The addon is built at install time only where OpenBLAS and a C compiler are present
 * (native/build.mjs); without it, or with UNLEARN_BENCH_NATIVE=0, the wasm kernels run and the
 * engine's reason says why. Shapes the native kernels do not cover fall through to the wasm ones.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { heapAddress, type WasmBackend, type WasmMemory } from './wasm-util.ts';

/** The addon's exports (offsets and strides in floats, into `heap`; see unlearn_blas.c). */
interface NativeAddon {
  sgemm(
    heap: Float32Array,
    batch: number,
    m: number,
    n: number,
    k: number,
    transA: number,
    transB: number,
    a: number,
    strideA: number,
    b: number,
    strideB: number,
    c: number,
    bias: number,
    relu: number,
  ): void;
  conv2d(heap: Float32Array, x: number, filter: number, y: number, ...geometry: number[]): void;
  conv2dBackpropInput(heap: Float32Array, dy: number, filter: number, dx: number, ...geometry: number[]): void;
  conv2dBackpropFilter(heap: Float32Array, x: number, dy: number, dw: number, ...geometry: number[]): void;
  setThreads(threads: number): void;
  info(): { config: string; threads: number };
}

/** Where the addon is built (the same relative path from src/engine and dist/engine). */
const ADDON = '../../native/build/unlearn_blas.node';

/** How to get the native kernels, for messages. */
export const NATIVE_HINT = 'install libopenblas-dev and run npm run build:native -w @unlearn-bench/models';

type Loaded = { ok: true; addon: NativeAddon } | { ok: false; why: string };

let loaded: Loaded | undefined;

/** The addon, or why it cannot be used here (not built, or turned off with UNLEARN_BENCH_NATIVE=0). */
export function loadNativeAddon(): Loaded {
  if (process.env.UNLEARN_BENCH_NATIVE === '0') return { ok: false, why: 'native kernels turned off (UNLEARN_BENCH_NATIVE=0)' };
  loaded ??= loadAddonFrom(ADDON);
  return loaded;
}

/** Loads the addon at `path` (relative to this file), saying why not where it cannot. */
export function loadAddonFrom(path: string): Loaded {
  try {
    return { ok: true, addon: createRequire(import.meta.url)(path) as NativeAddon };
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'MODULE_NOT_FOUND') return { ok: false, why: `native kernels not built: ${NATIVE_HINT}` };
    return { ok: false, why: `native kernels failed to load (${(error as Error).message.split('\n')[0]}): ${NATIVE_HINT}` };
  }
}

function addon(): NativeAddon {
  const result = loadNativeAddon();
  if (!result.ok) throw new Error(result.why);
  return result.addon;
}

/** Sets OpenBLAS's thread count (the engine's), and returns its build string. */
export function configureNativeKernels(threads: number): string {
  const native = addon();
  native.setThreads(threads);
  return native.info().config;
}

let heap: Float32Array | undefined;

/** A Float32Array over the whole wasm heap, made again when the memory has grown (or detached). */
function heapView(backend: WasmBackend): Float32Array {
  const memory: WasmMemory | undefined = backend.wasm.asm?.memory ?? backend.wasm.wasmMemory;
  if (!memory) throw new Error('the wasm backend exposes no memory');
  const buffer = memory.buffer;
  if (!heap || heap.buffer !== buffer || heap.byteLength !== buffer.byteLength) heap = new Float32Array(buffer);
  return heap;
}

const at = (backend: WasmBackend, info: tf.TensorInfo): number => heapAddress(backend, info) / 4;

/** The registered kernel that the native one replaced (kept by wasm-kernels.ts), to fall back to. */
export type Fallback = (name: string, inputs: Record<string, tf.TensorInfo>, attrs: tf.NamedAttrMap | undefined, backend: WasmBackend) => tf.TensorInfo;

/** Batch dims, m, k of a matmul operand, or undefined where broadcasting is more than 1-vs-n. */
function matmulPlan(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean) {
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const sizeA = tf.util.sizeFromShape(batchA);
  const sizeB = tf.util.sizeFromShape(batchB);
  const m = transposeA ? a.shape[a.shape.length - 1] : a.shape[a.shape.length - 2];
  const k = transposeA ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1];
  const kB = transposeB ? b.shape[b.shape.length - 1] : b.shape[b.shape.length - 2];
  const n = transposeB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
  if (k !== kB) return undefined;
  const outBatch = tf.broadcast_util.assertAndGetBroadcastShape(batchA, batchB);
  const batch = tf.util.sizeFromShape(outBatch);
  // One operand broadcast whole (size 1), or both with the same batch: plain strides cover it.
  if (!(sizeA === batch || sizeA === 1) || !(sizeB === batch || sizeB === 1)) return undefined;
  return { batch, m, n, k, outShape: [...outBatch, m, n], strideA: sizeA === 1 ? 0 : m * k, strideB: sizeB === 1 ? 0 : k * n };
}

function floats(...infos: (tf.TensorInfo | undefined)[]): boolean {
  return infos.every((info) => !info || info.dtype === 'float32');
}

/** BatchMatMul (any transposes, batch dims equal or one side broadcast) as sgemm calls. */
export function nativeBatchMatMul(fallback: Fallback): tf.KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const { a, b } = inputs as unknown as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    const wasm = backend as WasmBackend;
    const plan = floats(a, b) && a.shape.length >= 2 && b.shape.length >= 2 ? matmulPlan(a, b, transposeA, transposeB) : undefined;
    if (!plan) return fallback('BatchMatMul', { a, b }, attrs, wasm);
    const out = wasm.makeOutput(plan.outShape, 'float32');
    const { batch, m, n, k, strideA, strideB } = plan;
    addon().sgemm(heapView(wasm), batch, m, n, k, +transposeA, +transposeB, at(wasm, a), strideA, at(wasm, b), strideB, at(wasm, out), -1, 0);
    return out;
  };
}

/** _FusedMatMul with no or a per-column bias and linear or ReLU activation; others fall back. */
export function nativeFusedMatMul(fallback: Fallback): tf.KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const { a, b, bias, preluActivationWeights } = inputs as unknown as Record<string, tf.TensorInfo | undefined>;
    const { transposeA, transposeB, activation } = attrs as unknown as tf._FusedMatMulAttrs;
    const wasm = backend as WasmBackend;
    const plan =
      a && b && floats(a, b, bias) && a.shape.length >= 2 && b.shape.length >= 2 && !preluActivationWeights && (activation === 'linear' || activation === 'relu')
        ? matmulPlan(a, b, transposeA, transposeB)
        : undefined;
    // A bias of shape [n] or [1, …, 1, n] adds the same row everywhere; anything else falls back.
    const rowBias = !bias || (bias.shape.at(-1) === plan?.n && tf.util.sizeFromShape(bias.shape) === plan?.n);
    if (!plan || !rowBias) return fallback('_FusedMatMul', inputs as Record<string, tf.TensorInfo>, attrs, wasm);
    const out = wasm.makeOutput(plan.outShape, 'float32');
    const { batch, m, n, k, strideA, strideB } = plan;
    addon().sgemm(
      heapView(wasm), batch, m, n, k, +transposeA, +transposeB,
      at(wasm, a!), strideA, at(wasm, b!), strideB, at(wasm, out), bias ? at(wasm, bias) : -1, activation === 'relu' ? 1 : 0,
    );
    return out;
  };
}

/** The 15 geometry values unlearn_blas.c reads (NHWC, filter [KH, KW, Ci, Co]). */
function geometry(conv: tf.backend_util.Conv2DInfo): number[] {
  return [
    conv.batchSize, conv.inHeight, conv.inWidth, conv.inChannels, conv.outHeight, conv.outWidth, conv.outChannels,
    conv.filterHeight, conv.filterWidth, conv.strideHeight, conv.strideWidth, conv.dilationHeight, conv.dilationWidth,
    conv.padInfo.top, conv.padInfo.left,
  ];
}

type Shape4 = [number, number, number, number];

/** Conv2D (NHWC, float32, any stride, padding and dilation) as im2col + sgemm. */
export function nativeConv2D(fallback: Fallback): tf.KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const { x, filter } = inputs as unknown as { x: tf.TensorInfo; filter: tf.TensorInfo };
    const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs as unknown as tf.Conv2DAttrs;
    const wasm = backend as WasmBackend;
    if (dataFormat !== 'NHWC' || !floats(x, filter)) return fallback('Conv2D', { x, filter }, attrs, wasm);
    const conv = tf.backend_util.computeConv2DInfo(x.shape as Shape4, filter.shape as Shape4, strides, dilations, pad, dimRoundingMode, false, 'channelsLast');
    const out = wasm.makeOutput(conv.outShape, 'float32');
    addon().conv2d(heapView(wasm), at(wasm, x), at(wasm, filter), at(wasm, out), ...geometry(conv));
    return out;
  };
}

/** Conv2DBackpropInput (NHWC, float32) as sgemm + col2im. */
export function nativeConv2DBackpropInput(fallback: Fallback): tf.KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const { dy, filter } = inputs as unknown as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const wasm = backend as WasmBackend;
    if (dataFormat !== 'NHWC' || !floats(dy, filter)) return fallback('Conv2DBackpropInput', { dy, filter }, attrs, wasm);
    const conv = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as Shape4, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
    const out = wasm.makeOutput([...inputShape], 'float32');
    addon().conv2dBackpropInput(heapView(wasm), at(wasm, dy), at(wasm, filter), at(wasm, out), ...geometry(conv));
    return out;
  };
}

/** Conv2DBackpropFilter (NHWC, float32) as im2col + sgemm, summed over fixed chunks of the batch. */
export function nativeConv2DBackpropFilter(fallback: Fallback): tf.KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const { x, dy } = inputs as unknown as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    const wasm = backend as WasmBackend;
    if (dataFormat !== 'NHWC' || !floats(x, dy)) return fallback('Conv2DBackpropFilter', { x, dy }, attrs, wasm);
    const conv = tf.backend_util.computeConv2DInfo(x.shape as Shape4, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
    const out = wasm.makeOutput([...filterShape], 'float32');
    addon().conv2dBackpropFilter(heapView(wasm), at(wasm, x), at(wasm, dy), at(wasm, out), ...geometry(conv));
    return out;
  };
}
