/**
 * Multi-threaded wasm under Node. tfjs-backend-wasm 4.22 ships a threaded SIMD build (XNNPACK over a
 * pthreadpool of Web Workers) but never uses it in Node, for three reasons this module works around
 * while the backend initialises:
 * - its `WASM_HAS_MULTITHREAD_SUPPORT` flag is hard-wired to false in Node: we set it;
 * - it starts its workers from blob: URLs, which Node's worker_threads cannot load: while it
 *   initialises, `URL.createObjectURL` returns wasm-threads-worker.cjs, which runs the same worker
 *   code from the package's files;
 * - it caps the pool at half of `os.cpus().length` (it assumes two hyperthreads per core), so one
 *   thread on a 2-vCPU machine: while it initialises, `os.cpus()` lists enough CPUs for the count asked.
 * The pool's workers are then unref'd, so they do not keep the process alive.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

const WORKER = fileURLToPath(new URL('./wasm-threads-worker.cjs', import.meta.url));

/** Node's worker objects, as the Emscripten runtime keeps them. */
interface PThreadRuntime {
  readonly unusedWorkers: readonly { unref(): void }[];
  readonly runningWorkers: readonly { unref(): void }[];
}

/** Why the threaded build cannot be tried here, or undefined if it can. */
export function threadedWasmUnavailable(): string | undefined {
  if (typeof SharedArrayBuffer === 'undefined') return 'this runtime has no SharedArrayBuffer';
  if (!existsSync(WORKER)) return `the worker bootstrap ${WORKER} is missing`;
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  } catch {
    return '@tensorflow/tfjs-backend-wasm has no threaded build (wasm-out/tfjs-backend-wasm-threaded-simd.js)';
  }
  return undefined;
}

/**
 * Initialises the wasm backend (its first `setBackend('wasm')`) as the threaded build with `threads`
 * threads, or with the single-threaded build when `threads` is 1. Resolves to whether it initialised.
 */
export async function initWasmBackend(threads: number): Promise<boolean> {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', threads > 1);
  setThreadsCount(threads);
  if (threads <= 1) return tf.setBackend('wasm');
  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  URL.createObjectURL = (blob: Blob) => (blob.type === 'application/javascript' ? WORKER : createObjectURL(blob));
  os.cpus = () => {
    const real = cpus();
    return Array.from({ length: Math.max(real.length, 2 * threads) }, (_, i) => real[i % real.length]);
  };
  try {
    if (!(await tf.setBackend('wasm'))) return false;
  } finally {
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
  }
  const runtime = (tf.backend() as unknown as { wasm: { PThread?: PThreadRuntime } }).wasm.PThread;
  for (const worker of [...(runtime?.unusedWorkers ?? []), ...(runtime?.runningWorkers ?? [])]) worker.unref();
  return true;
}
