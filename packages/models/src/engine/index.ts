/**
 * Tensor engine set-up. Resolution order when nothing is forced: `tensorflow` (only if the user
 * installed @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node) → `wasm` (with this project's extra
 * kernels, and native OpenBLAS kernels where the optional addon is built) → `cpu`. The returned
 * EngineInfo says which backend runs and why, including whether the native kernels are active.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@unlearn-bench/core';
import { availableParallelism } from 'node:os';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { EngineError, type BackendName, type EngineInfo } from '@unlearn-bench/core';
import { configureNativeKernels, loadNativeAddon, nativeKernelsName } from './native-kernels.ts';
import { registerWasmTensorMemory } from './tensor-memory.ts';
import { registerWasmKernels, useNativeKernels } from './wasm-kernels.ts';
import { initWasmBackend, threadedWasmUnavailable } from './wasm-threads.ts';

/** `auto` picks the fastest backend that loads. */
export type BackendChoice = BackendName | 'auto';

/** Engine options. */
export interface EngineOptions {
  /** Backend to use; `auto` (default) tries tensorflow → wasm → cpu. */
  readonly backend?: BackendChoice;
  /**
   * Threads to compute with: the native kernels' pool where they run (wasm then runs 1 thread),
   * else the wasm backend's (its threaded build when > 1), fixed when wasm first initialises in
   * this process. @default defaultWasmThreads()
   */
  readonly threads?: number;
  /**
   * Native OpenBLAS kernels under the wasm backend where the addon is built (native-kernels.ts).
   * @default false if the environment variable UNLEARN_BENCH_NATIVE is 0, else true
   */
  readonly native?: boolean;
}

/** Whether native kernels are wanted when no option says: UNLEARN_BENCH_NATIVE=0 turns them off. */
function nativeWanted(option: boolean | undefined): boolean {
  return option ?? process.env.UNLEARN_BENCH_NATIVE !== '0';
}

/**
 * Puts the native kernels on or off under the (initialised) wasm backend, their pool using `threads`
 * threads (so `--workers N` processes, which get cores ÷ N each, do not oversubscribe the cores).
 * Says which, and why.
 */
function applyNative(wanted: boolean, threads: number): string {
  if (!wanted) {
    useNativeKernels(false);
    return 'native kernels off';
  }
  const addon = loadNativeAddon();
  if (!addon.ok) {
    useNativeKernels(false);
    return addon.why;
  }
  const openblas = configureNativeKernels(threads);
  useNativeKernels(true);
  return `native BLAS kernels (OpenBLAS ${openblas}, ${threads} thread${threads === 1 ? '' : 's'})`;
}

/**
 * The thread count when none is given: the UNLEARN_BENCH_WASM_THREADS environment variable if set
 * (`run --workers N` sets it for its children so that together they use the cores once), else the
 * number of cores.
 */
export function defaultWasmThreads(): number {
  const fromEnv = Number(process.env.UNLEARN_BENCH_WASM_THREADS);
  if (Number.isInteger(fromEnv) && fromEnv >= 1) return fromEnv;
  return availableParallelism();
}

const TENSORFLOW_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

async function tryTensorflow(): Promise<{ ok: true; pkg: string } | { ok: false; why: string }> {
  const failures: string[] = [];
  const previous = tf.engine().backendName;
  for (const pkg of TENSORFLOW_PACKAGES) {
    try {
      await import(pkg);
      if (await tf.setBackend('tensorflow')) return { ok: true, pkg };
      // A failed setBackend leaves TF.js naming the failed backend: select the previous one again.
      if (previous) await tf.setBackend(previous);
      failures.push(`${pkg} loaded but the tensorflow backend did not initialise`);
    } catch (error) {
      const code = (error as { code?: string }).code;
      failures.push(
        code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
          ? `${pkg} is not installed`
          : `${pkg} failed to load: ${(error as Error).message.split('\n')[0]}`,
      );
    }
  }
  return { ok: false, why: failures.join('; ') };
}

/**
 * Initialises wasm with `threads` threads, or with 1 when the native kernels will run (`native`):
 * they take the heavy kernels and their own pool, and what is left in wasm (elementwise ops,
 * pooling) is memory-bound, where waking wasm's thread pool for every op cost more than it gained
 * (bench/README.md has the measurement). The thread count is fixed at the first initialisation.
 */
async function tryWasm(requested: number, native: boolean): Promise<{ ok: true; note: string } | { ok: false; why: string }> {
  const threads = native && loadNativeAddon().ok ? 1 : requested;
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    registerWasmKernels();
    registerWasmTensorMemory();
    // Threads are fixed when wasm first initialises; later calls reuse that backend.
    if (tf.findBackend('wasm')) {
      return (await tf.setBackend('wasm')) ? { ok: true, note: '' } : { ok: false, why: 'the wasm backend did not initialise' };
    }
    let note = '';
    if (threads > 1) {
      const unavailable = threadedWasmUnavailable();
      if (!unavailable && (await initWasmBackend(threads))) return { ok: true, note: '' };
      note = `; the threaded wasm build is unavailable (${unavailable ?? 'it did not initialise, see the warning above'}), so 1 thread`;
    }
    if (await initWasmBackend(1)) return { ok: true, note };
    return { ok: false, why: 'the wasm backend did not initialise' };
  } catch (error) {
    return { ok: false, why: `wasm failed: ${(error as Error).message}` };
  }
}

function threadCount(): string {
  const n = getThreadsCount();
  return `${n} thread${n === 1 ? '' : 's'}`;
}

/**
 * Selects the pure-JS cpu backend. It prints "Hi, looks like you are running TensorFlow.js in
 * Node.js…" on its first use; when we pick it deliberately (the reason says why), that advice is noise.
 */
async function useCpu(): Promise<void> {
  if (!(await tf.setBackend('cpu'))) throw new EngineError('The cpu backend did not initialise.');
  (tf.backend() as { firstUse?: boolean }).firstUse = false;
}

let current: { choice: BackendChoice; info: EngineInfo; native: boolean } | undefined;

/**
 * Selects and initialises the tensor backend. Calling it again with the same choice (or naming the
 * backend that runs) returns the same engine; any other choice resolves again.
 */
export async function createEngine(options: EngineOptions = {}): Promise<EngineInfo> {
  const choice = options.backend ?? 'auto';
  if (current && (choice === current.choice || choice === current.info.backend) && tf.getBackend() === current.info.backend) {
    if (current.info.backend !== 'wasm' || current.native === nativeWanted(options.native)) return current.info;
  }
  const info = await resolve(choice, options.threads ?? defaultWasmThreads(), nativeWanted(options.native));
  await tf.ready();
  current = { choice, info, native: nativeWanted(options.native) };
  return info;
}

/** EngineInfo's `kernels` when the native kernels run (they change results in the last bits). */
function nativeKernels(native: boolean): { kernels?: string } {
  return native && loadNativeAddon().ok ? { kernels: nativeKernelsName() } : {};
}

/** Threads the engine computes with: the native pool's when it runs, else wasm's. */
function engineThreads(native: boolean, threads: number): number {
  return native && loadNativeAddon().ok ? threads : getThreadsCount();
}

async function resolve(choice: BackendChoice, threads: number, native: boolean): Promise<EngineInfo> {
  if (choice === 'tensorflow') {
    const result = await tryTensorflow();
    if (!result.ok) {
      throw new EngineError(`Backend 'tensorflow' was requested but is unavailable: ${result.why}. Install @tensorflow/tfjs-node (or -gpu) or use --backend wasm.`);
    }
    return { backend: 'tensorflow', reason: `forced; using ${result.pkg}`, threads: 0 };
  }
  if (choice === 'wasm') {
    const result = await tryWasm(threads, native);
    if (!result.ok) throw new EngineError(`Backend 'wasm' was requested but is unavailable: ${result.why}. Use --backend cpu.`);
    return { backend: 'wasm', reason: `forced${result.note}; ${applyNative(native, threads)}`, threads: engineThreads(native, threads), ...nativeKernels(native) };
  }
  if (choice === 'cpu') {
    await useCpu();
    return { backend: 'cpu', reason: 'forced (pure JavaScript, slow)', threads: 1 };
  }
  const tensorflow = await tryTensorflow();
  if (tensorflow.ok) return { backend: 'tensorflow', reason: `auto: ${tensorflow.pkg} is installed`, threads: 0 };
  const wasm = await tryWasm(threads, native);
  if (wasm.ok) {
    const reason = `auto: ${tensorflow.why}, so wasm (SIMD, ${threadCount()}) with project kernels${wasm.note}; ${applyNative(native, threads)}`;
    return { backend: 'wasm', reason, threads: engineThreads(native, threads), ...nativeKernels(native) };
  }
  await useCpu();
  return { backend: 'cpu', reason: `auto: ${tensorflow.why}; ${wasm.why}; falling back to the pure-JS cpu backend`, threads: 1 };
}
