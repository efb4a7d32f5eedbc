/**
 * Loads the hand-written SIMD kernels (simd-kernels.wat) into the wasm backend's memory: the module
 * imports the backend's WebAssembly.Memory, so it works on tensors in place (a second build of the
 * same code imports the shared memory of the threaded wasm build). Where that memory cannot be
 * reached or imported (another tfjs-backend-wasm build),
 * `simdKernels` returns undefined and callers use the XNNPACK formulations instead.
 */
import { SIMD_KERNELS_SHARED_WASM_BASE64, SIMD_KERNELS_WASM_BASE64 } from './simd-kernels.generated.ts';
import type { WasmBackend, WasmMemory } from './wasm-util.ts';

/** The slice of the WebAssembly JS API used here (the project's lib settings carry no DOM types). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
  Memory: abstract new (...args: never[]) => WasmMemory;
}
const WASM = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

/** The exported functions (arguments are byte addresses, counts and byte strides; see the .wat). */
export interface SimdKernels {
  readonly memory: WasmMemory;
  /** The compiled module these were instantiated from (simd-helper.ts instantiates it again). */
  readonly module: object;
  filter_grad(
    xp: number,
    dy: number,
    acc: number,
    offs: number,
    batch: number,
    outHeight: number,
    outWidth: number,
    outChannels: number,
    kpad: number,
    batchStride: number,
    rowStride: number,
    colStride: number,
    chunk: number,
  ): void;
  max_pool_grad_2x2(
    x: number,
    dy: number,
    dx: number,
    batch: number,
    outHeight: number,
    outWidth: number,
    channels: number,
    inHeight: number,
    inWidth: number,
  ): void;
  sum_rows(x: number, rows: number, cols: number, acc: number, out: number): void;
}

const modules = new Map<string, object | null>();
const instances = new WeakMap<WasmMemory, SimdKernels | null>();

/** The compiled module for a plain or a shared (threaded build) memory; null without wasm SIMD. */
function compiled(shared: boolean): object | null {
  const base64 = shared ? SIMD_KERNELS_SHARED_WASM_BASE64 : SIMD_KERNELS_WASM_BASE64;
  let module = modules.get(base64);
  if (module === undefined) {
    try {
      module = new WASM.Module(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
    } catch {
      module = null; // no wasm SIMD (or threads) here
    }
    modules.set(base64, module);
  }
  return module;
}

/** The SIMD kernels bound to `backend`'s heap, or undefined where they cannot run. */
export function simdKernels(backend: WasmBackend): SimdKernels | undefined {
  const memory = backend.wasm?.asm?.memory ?? backend.wasm?.wasmMemory;
  if (!(memory instanceof WASM.Memory)) return undefined;
  let kernels = instances.get(memory);
  if (kernels === undefined) {
    const wasmModule = compiled(typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer);
    try {
      kernels = wasmModule
        ? ({ ...new WASM.Instance(wasmModule, { env: { memory } }).exports, memory, module: wasmModule } as unknown as SimdKernels)
        : null;
    } catch {
      kernels = null; // e.g. a memory whose limits the module does not accept
    }
    instances.set(memory, kernels);
  }
  return kernels ?? undefined;
}
