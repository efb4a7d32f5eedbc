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
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import type { SgdUpdateAttrs } from '@unlearn-bench/core';
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
  conv2d(heap: Float32Array, x: number, filter: number, y: number, bias: number, relu: number, ...geometry: number[]): void;
  conv2dBackpropInput(heap: Float32Array, dy: number, filter: number, dx: number, ...geometry: number[]): void;
  conv2dBackpropFilter(heap: Float32Array, x: number, dy: number, dw: number, ...geometry: number[]): void;
  reluGrad(heap: Float32Array, n: number, dy: number, y: number, dx: number): void;
  sgdUpdate(
    heap: Float32Array,
    n: number,
    w: number,
    g: number,
    buffer: number,
    noise: number,
    wOut: number,
    bufferOut: number,
    momentum: number,
    lr: number,
    coupledDecay: number,
    decoupledFactor: number,
    flags: number,
  ): void;
  maxPool(heap: Float32Array, x: number, dy: -1, y: number, ...geometry: number[]): void;
  maxPoolGrad(heap: Float32Array, x: number, dy: number, dx: number, ...geometry: number[]): void;
  sumRows(heap: Float32Array, rows: number, cols: number, x: number, out: number): void;
  softmaxCrossEntropy(heap: Float32Array, n: number, c: number, logits: number, labels: number, dy: -1, loss: number): void;
  softmaxCrossEntropyGrad(heap: Float32Array, n: number, c: number, logits: number, labels: number, dy: number, dlogits: number): void;
  denseStackInputGrad(heap: Float32Array, plan: Float64Array): void;
  denseStackLossGrads(heap: Float32Array, plan: Float64Array): void;
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
  if (!loaded) {
    chooseOpenblasCore();
    loaded = loadAddonFrom(ADDON);
  }
  return loaded;
}

/**
 * The OPENBLAS_CORETYPE for an x86-64 Intel CPU described by `cpuinfo` (the text of /proc/cpuinfo):
 * `Cooperlake` with AVX-512 and bfloat16, `SkylakeX` with AVX-512, `Haswell` with AVX2 and FMA;
 * undefined for other vendors and older CPUs.
 *
 * OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels from the CPU's model number when it
 * loads, and a model it does not know gets its oldest x86-64 kernels (Prescott, SSE3): OpenBLAS
 * 0.3.21 on an Intel Xeon of model 207 ran a 64×784·784×512 sgemm at 16 GFLOP/s on one core instead
 * of 96 with its Cooperlake kernels (bench/README.md). These are the kernels 0.3.21 picks for the Intel
 * models it knows of each instruction-set family; other vendors are left to its detection.
 */
export function openblasCoreType(cpuinfo: string): string | undefined {
  const field = (name: string): string | undefined => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(cpuinfo)?.[1]?.trim();
  if (field('vendor_id') !== 'GenuineIntel') return undefined;
  const flags = new Set((field('flags') ?? '').split(/\s+/));
  const has = (...names: string[]): boolean => names.every((name) => flags.has(name));
  if (has('avx512f', 'avx512cd', 'avx512bw', 'avx512dq', 'avx512vl')) return flags.has('avx512_bf16') ? 'Cooperlake' : 'SkylakeX';
  if (has('avx2', 'fma')) return 'Haswell';
  return undefined;
}

/** openblasCoreType of this machine's CPU (Linux x86-64; undefined elsewhere or when /proc/cpuinfo is unreadable). */
export function openblasCoreTypeHere(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return undefined;
  try {
    return openblasCoreType(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Sets OPENBLAS_CORETYPE (read once, when OpenBLAS loads with the addon) from /proc/cpuinfo where
 * the user has not set it (see openblasCoreType); `run --workers N` children inherit it.
 */
function chooseOpenblasCore(): void {
  if (process.env.OPENBLAS_CORETYPE !== undefined) return;
  const core = openblasCoreTypeHere();
  if (core) process.env.OPENBLAS_CORETYPE = core;
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

/** Sets the kernels' thread count (the engine's); returns OpenBLAS's version and the core whose kernels it runs, e.g. `0.3.21 Cooperlake`. */
export function configureNativeKernels(threads: number): string {
  const native = addon();
  native.setThreads(threads);
  return openblasVersionAndCore(native.info().config);
}

/**
 * EngineInfo's `kernels` while the native kernels run: their revision (2: the fused layers, SGD step
 * and cross-entropy, whose gradient differs from the separate ops' in the last bits) and OpenBLAS's
 * core (each core's sgemm sums in its own order), e.g. `native-blas2-cooperlake`, so that cell keys
 * never mix results of different kernels.
 */
export function nativeKernelsName(): string {
  const core = openblasVersionAndCore(addon().info().config).split(' ')[1] ?? 'unknown';
  return `native-blas2-${core.toLowerCase()}`;
}

/**
 * `<version> <core>` from OpenBLAS's build string (`OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH
 * NO_AFFINITY Cooperlake MAX_THREADS=64`: the core is the word before MAX_THREADS).
 */
export function openblasVersionAndCore(config: string): string {
  const words = config.split(' ');
  const max = words.findIndex((word) => word.startsWith('MAX_THREADS='));
  return max > 2 ? `${words[1]} ${words[max - 1]}` : (words[1] ?? config);
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
    addon().conv2d(heapView(wasm), at(wasm, x), at(wasm, filter), at(wasm, out), -1, 0, ...geometry(conv));
    return out;
  };
}

/** FusedConv2D (NHWC, float32) with no or a per-channel bias and linear or ReLU activation, the bias and ReLU applied per chunk while it is in cache; others fall back. */
export function nativeFusedConv2D(fallback: Fallback): tf.KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const { x, filter, bias, preluActivationWeights } = inputs as unknown as Record<string, tf.TensorInfo | undefined>;
    const { strides, pad, dataFormat, dilations, dimRoundingMode, activation } = attrs as unknown as tf.FusedConv2DAttrs;
    const wasm = backend as WasmBackend;
    const channels = filter?.shape[3];
    const rowBias = !bias || (bias.shape.at(-1) === channels && tf.util.sizeFromShape(bias.shape) === channels);
    if (!x || !filter || dataFormat !== 'NHWC' || !floats(x, filter, bias) || preluActivationWeights || !(activation === 'linear' || activation === 'relu') || !rowBias) {
      return fallback('FusedConv2D', inputs as Record<string, tf.TensorInfo>, attrs, wasm);
    }
    const conv = tf.backend_util.computeConv2DInfo(x.shape as Shape4, filter.shape as Shape4, strides, dilations, pad, dimRoundingMode, false, 'channelsLast');
    const out = wasm.makeOutput(conv.outShape, 'float32');
    addon().conv2d(heapView(wasm), at(wasm, x), at(wasm, filter), at(wasm, out), bias ? at(wasm, bias) : -1, activation === 'relu' ? 1 : 0, ...geometry(conv));
    return out;
  };
}

/** The kernel `dy · step(y)`: the gradient of ReLU through its output `y` (inputs `dy`, `y`, float32, one shape; see fused-ops.ts). */
export const RELU_GRAD_KERNEL = 'UnlearnBenchReluGrad';

/**
 * The two dense-stack kernels take `x` [rows, d0] float32, `labels` [rows] int32, and `kernel0`,
 * `bias0`, `kernel1`, … ([d(l), d(l+1)] and [d(l+1)]), ReLU after every layer but the last, and run
 * in one native call the kernels that core/mlp's own backward passes run one by one, with the same
 * parts in the same order: the same bits (src/mlp/mlp.test.ts).
 *
 * DENSE_STACK_INPUT_GRAD_KERNEL: ∇ₓ of Σᵢ crossEntropy(logits(xᵢ), labelsᵢ), [rows, d0].
 */
export const DENSE_STACK_INPUT_GRAD_KERNEL = 'UnlearnBenchDenseStackInputGrad';

/** DENSE_STACK_LOSS_GRADS_KERNEL: each example's cross-entropy [rows], then the gradients of their mean with respect to kernel0 … and bias0 …. */
export const DENSE_STACK_LOSS_GRADS_KERNEL = 'UnlearnBenchDenseStackLossGrads';

/**
 * The inputs of a dense-stack kernel, checked, and its native plan for the given outputs:
 * [L, rows, d0 … dL, x, labels, outputs…, kernel0 …, bias0 …] (unlearn_blas.c's read_stack).
 */
function denseStack(inputs: tf.NamedTensorInfoMap, wasm: WasmBackend): { kernels: tf.TensorInfo[]; biases: tf.TensorInfo[]; x: tf.TensorInfo; plan: (outputs: tf.TensorInfo[]) => Float64Array } {
  const { x, labels, ...weights } = inputs as unknown as Record<string, tf.TensorInfo>;
  const layers = Object.keys(weights).length / 2;
  const kernels = Array.from({ length: layers }, (_, l) => weights[`kernel${l}`]);
  const biases = Array.from({ length: layers }, (_, l) => weights[`bias${l}`]);
  const dims = [x?.shape[1], ...kernels.map((k) => k?.shape[1])];
  const shaped =
    Number.isInteger(layers) && layers >= 1 && x?.shape.length === 2 && floats(x, ...kernels, ...biases) && labels?.dtype === 'int32' && labels.shape[0] === x.shape[0] &&
    kernels.every((k, l) => k?.shape.length === 2 && k.shape[0] === dims[l] && biases[l]?.shape.length === 1 && biases[l].shape[0] === dims[l + 1]);
  if (!shaped) throw new Error('a dense-stack kernel needs x [rows, d0], int32 labels [rows] and kernel0, bias0, … of matching widths');
  const plan = (outputs: tf.TensorInfo[]) =>
    Float64Array.from([layers, x.shape[0], ...(dims as number[]), ...[x, labels, ...outputs, ...kernels, ...biases].map((t) => at(wasm, t))]);
  return { kernels, biases, x, plan };
}

export const nativeDenseStackInputGrad: tf.KernelFunc = ({ inputs, backend }) => {
  const wasm = backend as WasmBackend;
  const { x, plan } = denseStack(inputs, wasm);
  const out = wasm.makeOutput([...x.shape], 'float32');
  addon().denseStackInputGrad(heapView(wasm), plan([out]));
  return out;
};

export const nativeDenseStackLossGrads: tf.KernelFunc = ({ inputs, backend }) => {
  const wasm = backend as WasmBackend;
  const { kernels, biases, x, plan } = denseStack(inputs, wasm);
  // Each example's loss, then a gradient shaped as each kernel and each bias.
  const outputs = [wasm.makeOutput([x.shape[0]], 'float32'), ...[...kernels, ...biases].map((t) => wasm.makeOutput([...t.shape], 'float32'))];
  addon().denseStackLossGrads(heapView(wasm), plan(outputs));
  return outputs;
};

/** RELU_GRAD_KERNEL in one pass. */
export const nativeReluGrad: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, y } = inputs as unknown as { dy: tf.TensorInfo; y: tf.TensorInfo };
  const wasm = backend as WasmBackend;
  if (!floats(dy, y) || !tf.util.arraysEqual(dy.shape, y.shape)) throw new Error(`reluGrad needs float32 dy and y of one shape, got ${dy.dtype} [${dy.shape}] and ${y.dtype} [${y.shape}]`);
  const out = wasm.makeOutput([...y.shape], 'float32');
  addon().reluGrad(heapView(wasm), tf.util.sizeFromShape(y.shape), at(wasm, dy), at(wasm, y), at(wasm, out));
  return out;
};

/**
 * core's SGD_UPDATE_KERNEL (optimizers.ts): one SGD step of a variable in one pass. Where nothing
 * else holds the variable's data or the momentum buffer's (the backend's reference count is 1), it
 * writes them in place and returns them as its outputs (with a reference added, as share-data.ts does):
 * that reads and writes each array once, where new outputs cost a third more memory traffic; the
 * optimizer then assigns them back. Otherwise (a clone shares the data) it writes new tensors.
 */
export const nativeSgdUpdate: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { w, g, buffer, noise } = inputs as unknown as Record<string, tf.TensorInfo | undefined>;
  const { momentum, learningRate, coupledDecay, decoupledFactor, nesterov } = attrs as unknown as SgdUpdateAttrs;
  const wasm = backend as WasmBackend;
  const same = (t: tf.TensorInfo | undefined): boolean => !t || (t.dtype === 'float32' && tf.util.arraysEqual(t.shape, w!.shape));
  if (!w || !g || w.dtype !== 'float32' || !same(g) || !same(buffer) || !same(noise)) {
    throw new Error('the SGD update kernel needs float32 w, g, buffer and noise of one shape');
  }
  const reuse = (t: tf.TensorInfo | undefined): t is tf.TensorInfo => t !== undefined && wasm.refCount(t.dataId) === 1;
  const inPlace = reuse(w) && (momentum === 0 || !buffer || reuse(buffer));
  const output = (t: tf.TensorInfo | undefined): tf.TensorInfo => {
    if (inPlace && t) {
      wasm.incRef(t.dataId);
      return { dataId: t.dataId, shape: [...t.shape], dtype: 'float32' };
    }
    return wasm.makeOutput([...w.shape], 'float32');
  };
  const out = output(w);
  const bufferOut = momentum > 0 ? output(buffer) : undefined;
  const flags = (nesterov ? 1 : 0) | (coupledDecay !== 0 ? 2 : 0) | (decoupledFactor !== 1 ? 4 : 0);
  addon().sgdUpdate(
    heapView(wasm), tf.util.sizeFromShape(w.shape), at(wasm, w), at(wasm, g), buffer ? at(wasm, buffer) : -1, noise ? at(wasm, noise) : -1,
    at(wasm, out), bufferOut ? at(wasm, bufferOut) : -1, momentum, learningRate, coupledDecay, decoupledFactor, flags,
  );
  return bufferOut ? [out, bufferOut] : [out];
};
function crossEntropyInputs(inputs: tf.NamedTensorInfoMap): { logits: tf.TensorInfo; labels: tf.TensorInfo; dy?: tf.TensorInfo; n: number; c: number } {
  const { logits, labels, dy } = inputs as unknown as Record<string, tf.TensorInfo | undefined>;
  const [n, c] = logits?.shape ?? [];
  if (!logits || !labels || logits.dtype !== 'float32' || logits.shape.length !== 2 || labels.dtype !== 'int32' || !tf.util.arraysEqual(labels.shape, [n])) {
    throw new Error('the softmax cross-entropy kernels need float32 logits [n, c] and int32 labels [n]');
  }
  if (dy && (dy.dtype !== 'float32' || !tf.util.arraysEqual(dy.shape, [n]))) throw new Error('the softmax cross-entropy gradient needs a float32 dy [n]');
  return { logits, labels, dy, n, c };
}

/** core's SOFTMAX_CROSS_ENTROPY_KERNEL: per-example loss, one pass over the logits. */
export const nativeSoftmaxCrossEntropy: tf.KernelFunc = ({ inputs, backend }) => {
  const wasm = backend as WasmBackend;
  const { logits, labels, n, c } = crossEntropyInputs(inputs);
  const out = wasm.makeOutput([n], 'float32');
  addon().softmaxCrossEntropy(heapView(wasm), n, c, at(wasm, logits), at(wasm, labels), -1, at(wasm, out));
  return out;
};

/** core's SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL: (softmax − onehot) · dy, one pass. */
export const nativeSoftmaxCrossEntropyGrad: tf.KernelFunc = ({ inputs, backend }) => {
  const wasm = backend as WasmBackend;
  const { logits, labels, dy, n, c } = crossEntropyInputs(inputs);
  if (!dy) throw new Error('the softmax cross-entropy gradient needs dy');
  const out = wasm.makeOutput([n, c], 'float32');
  addon().softmaxCrossEntropyGrad(heapView(wasm), n, c, at(wasm, logits), at(wasm, labels), at(wasm, dy), at(wasm, out));
  return out;
};

/** The 12 pooling geometry values unlearn_blas.c reads (NHWC), or undefined for dilated pools. */
function poolGeometry(x: tf.TensorInfo, attrs: tf.MaxPoolAttrs): number[] | undefined {
  const { filterSize, strides, pad, dimRoundingMode } = attrs;
  const pool = tf.backend_util.computePool2DInfo(x.shape as Shape4, filterSize, strides, 1, pad, dimRoundingMode);
  if (pool.dilationHeight !== 1 || pool.dilationWidth !== 1) return undefined;
  return [
    pool.batchSize, pool.inHeight, pool.inWidth, pool.inChannels, pool.outHeight, pool.outWidth,
    pool.effectiveFilterHeight, pool.effectiveFilterWidth, pool.strideHeight, pool.strideWidth, pool.padInfo.top, pool.padInfo.left,
  ];
}

/** MaxPool (NHWC, float32) on the pool's threads, an image per part; NaN never wins, as on the cpu backend. */
export function nativeMaxPool(fallback: Fallback): tf.KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    const wasm = backend as WasmBackend;
    const geometry = x.dtype === 'float32' && x.shape.length === 4 ? poolGeometry(x, attrs as unknown as tf.MaxPoolAttrs) : undefined;
    if (!geometry) return fallback('MaxPool', { x }, attrs, wasm);
    const out = wasm.makeOutput([geometry[0], geometry[4], geometry[5], geometry[3]], 'float32');
    addon().maxPool(heapView(wasm), at(wasm, x), -1, at(wasm, out), ...geometry);
    return out;
  };
}

/** MaxPoolGrad (NHWC, float32): dy to each window's first strict maximum, as max-pool-grad.ts and the cpu backend. */
export function nativeMaxPoolGrad(fallback: Fallback): tf.KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const { dy, input } = inputs as unknown as { dy: tf.TensorInfo; input: tf.TensorInfo };
    const wasm = backend as WasmBackend;
    const geometry = floats(dy, input) && input.shape.length === 4 ? poolGeometry(input, attrs as unknown as tf.MaxPoolAttrs) : undefined;
    if (!geometry) return fallback('MaxPoolGrad', inputs as Record<string, tf.TensorInfo>, attrs, wasm);
    const out = wasm.makeOutput([...input.shape], 'float32');
    addon().maxPoolGrad(heapView(wasm), at(wasm, input), at(wasm, dy), at(wasm, out), ...geometry);
    return out;
  };
}

/** Sum over the leading axes of a float32 tensor (every bias gradient), in float64 over fixed parts of rows; other sums fall back. */
export function nativeSum(fallback: Fallback): tf.KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
    const wasm = backend as WasmBackend;
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i);
    if (!leading || x.dtype !== 'float32') return fallback('Sum', { x }, attrs, wasm);
    const kept = x.shape.slice(axes.length);
    const out = wasm.makeOutput(keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
    addon().sumRows(heapView(wasm), tf.util.sizeFromShape(x.shape.slice(0, axes.length)), tf.util.sizeFromShape(kept), at(wasm, x), at(wasm, out));
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
