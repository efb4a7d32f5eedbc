/**
 * The WebGPU route in Node: @tensorflow/tfjs-backend-webgpu on Dawn (the `webgpu` npm package, which
 * ships prebuilt `dawn.node` binaries). Both are optional and not installed by `npm ci`:
 *
 *   npm install --no-save webgpu@0.6.2 @tensorflow/tfjs-backend-webgpu@4.22.0
 *
 * Dawn needs a GPU with a Vulkan driver (libvulkan.so.1) on Linux; without one it finds no adapter
 * and `tryWebgpu` says so, leaving the current backend in place. Core's engine names only
 * tensorflow/wasm/cpu, so this is used by the benchmarks (bench/gpu.sh), not by manifests yet.
 */
import * as tf from '@tensorflow/tfjs-core';

const DAWN = 'webgpu';
const BACKEND = '@tensorflow/tfjs-backend-webgpu';
const INSTALL = `npm install --no-save ${DAWN}@0.6.2 ${BACKEND}@4.22.0`;

/** The GPU adapter API of Dawn, as far as it is used here. */
interface GpuAdapter {
  readonly info?: { vendor?: string; architecture?: string; device?: string; description?: string };
}
interface Gpu {
  requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapter | null>;
}
interface DawnModule {
  create(flags: string[]): Gpu;
  globals: Record<string, unknown>;
}

/** The outcome of trying WebGPU: the adapter that runs, or why none does. */
export type WebgpuResult = { readonly ok: true; readonly adapter: string } | { readonly ok: false; readonly why: string };

function notInstalled(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/**
 * Selects TF.js's webgpu backend on Dawn's first adapter. On failure the previous backend stays
 * selected and `why` says what is missing and how to get it.
 */
export async function tryWebgpu(): Promise<WebgpuResult> {
  let dawn: DawnModule;
  try {
    dawn = (await import(DAWN)) as DawnModule;
  } catch (error) {
    return { ok: false, why: notInstalled(error) ? `the ${DAWN} package (Dawn for Node) is not installed: ${INSTALL}` : `${DAWN} failed to load: ${(error as Error).message.split('\n')[0]}` };
  }
  let gpu: Gpu;
  let adapter: GpuAdapter | null;
  try {
    gpu = dawn.create([]);
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    return { ok: false, why: `Dawn failed: ${(error as Error).message.split('\n')[0]}` };
  }
  if (!adapter) {
    return { ok: false, why: 'Dawn found no WebGPU adapter: this machine has no GPU that Dawn can drive (on Linux it needs a Vulkan driver and libvulkan.so.1)' };
  }
  // tfjs-backend-webgpu registers itself on import only where `navigator.gpu` exists (Node 20 has no navigator).
  Object.assign(globalThis, dawn.globals);
  const nav = ((globalThis as { navigator?: object }).navigator ??= {}) as { gpu?: Gpu };
  if (!nav.gpu) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  try {
    await import(BACKEND);
  } catch (error) {
    return { ok: false, why: notInstalled(error) ? `${BACKEND} is not installed: ${INSTALL}` : `${BACKEND} failed to load: ${(error as Error).message.split('\n')[0]}` };
  }
  const previous = tf.getBackend();
  if (!(await tf.setBackend('webgpu').catch(() => false))) {
    if (previous) await tf.setBackend(previous);
    return { ok: false, why: 'the webgpu backend did not initialise (see the warning above)' };
  }
  const info = adapter.info ?? {};
  return { ok: true, adapter: [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown adapter' };
}
