/**
 * A second thread for the hand-written SIMD filter gradient on the threaded wasm build: XNNPACK
 * spreads its own kernels over the backend's pthreadpool, but ours run on the calling thread. On a
 * shared memory, a worker_thread instantiates the same SIMD module on that memory and computes the
 * first part of the batch into its own accumulator while the caller computes the rest. They meet
 * through Atomics on a small control block in the heap; nothing is copied.
 */
import { Worker } from 'node:worker_threads';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import type { WasmBackend, WasmMemory } from './wasm-util.ts';

let enabled = true;

/** Turns the helper thread on (default) or off (for benchmarks and tests). */
export function useFilterGradHelper(on: boolean): void {
  enabled = on;
}

/** Whether a helper thread should share the work: the threaded build, with more than one thread. */
export function helperWanted(backend: WasmBackend): boolean {
  const memory = backend.wasm?.wasmMemory;
  return enabled && typeof SharedArrayBuffer !== 'undefined' && memory?.buffer instanceof SharedArrayBuffer && getThreadsCount() > 1;
}

/** Arguments of `filter_grad` (simd-kernels.wat), in order. */
export type FilterGradArgs = readonly [number, number, number, number, number, number, number, number, number, number, number, number, number];

// Control block (Int32 slots): [0] state 0 idle / 1 work / 2 done, [1..13] arguments, [14] 0 ok / 1 failed.
const SLOTS = 16;
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control } = workerData;
const { filter_grad } = new WebAssembly.Instance(module, { env: { memory } }).exports;
const ctl = new Int32Array(memory.buffer, control, ${SLOTS});
for (;;) {
  let state;
  while ((state = Atomics.load(ctl, 0)) !== 1) Atomics.wait(ctl, 0, state);
  let failed = 0;
  try { filter_grad(...Array.from(ctl.subarray(1, 14))); } catch { failed = 1; }
  Atomics.store(ctl, 14, failed);
  Atomics.store(ctl, 0, 2);
  Atomics.notify(ctl, 0);
}
`;

/** How long the caller waits for the helper before computing its part itself (and never asking again). */
const TIMEOUT_MS = 10_000;

interface Helper {
  readonly control: Int32Array;
  readonly worker: Worker;
}

const helpers = new WeakMap<WasmMemory, Helper | null>();

/** The helper of `backend`'s shared memory, started on first use; undefined where there is none. */
function helperFor(backend: WasmBackend, memory: WasmMemory, module: object): Helper | undefined {
  let helper = helpers.get(memory);
  if (helper === undefined) {
    helper = null;
    if (typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer) {
      try {
        const control = backend.wasm._malloc(SLOTS * 4);
        const view = new Int32Array(memory.buffer, control, SLOTS);
        view.fill(0);
        const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory, control } });
        worker.unref();
        worker.on('error', () => helpers.set(memory, null));
        helper = { control: view, worker };
      } catch {
        helper = null;
      }
    }
    helpers.set(memory, helper);
  }
  return helper ?? undefined;
}

/**
 * Runs `filter_grad` over the batch with the helper computing its first `helperBatch` images into
 * `helperAcc` (zeroed, same layout as the caller's accumulator) and `callerPart` doing the rest.
 * Returns false, having run nothing, where there is no helper; the caller then runs the whole batch.
 * If the helper fails or times out, its part is run here into `args`' accumulator instead and the
 * helper is retired (its accumulator must then stay allocated: the helper may still write it).
 */
export function runWithHelper(
  backend: WasmBackend,
  memory: WasmMemory,
  module: object,
  helperArgs: FilterGradArgs,
  callerPart: () => void,
  fallback: () => void,
): 'helped' | 'no-helper' | 'helper-failed' {
  const helper = helperFor(backend, memory, module);
  if (!helper) return 'no-helper';
  const { control } = helper;
  for (let i = 0; i < helperArgs.length; i++) control[1 + i] = helperArgs[i];
  Atomics.store(control, 0, 1);
  Atomics.notify(control, 0);
  callerPart();
  const outcome = Atomics.wait(control, 0, 1, TIMEOUT_MS);
  const ok = outcome !== 'timed-out' && Atomics.load(control, 0) === 2 && control[14] === 0;
  if (ok) {
    Atomics.store(control, 0, 0);
    return 'helped';
  }
  helpers.set(memory, null);
  fallback();
  return 'helper-failed';
}
