/**
 * What a run says when a GPU path is missing or broken: an installed @tensorflow/tfjs-node-gpu
 * whose backend fails to start (mocked: it cannot be installed on this project's machines), a
 * missing @tensorflow/tfjs-node, and the WebGPU route without its packages. Each falls back to wasm
 * and says why.
 */
import * as tf from '@tensorflow/tfjs-core';
import { EngineError } from '@unlearn-bench/core';
import { describe, expect, it, vi } from 'vitest';
import { createEngine } from './index.ts';
import { loadNativeAddon, openblasVersionAndCore } from './native-kernels.ts';
import { tryWebgpu } from './webgpu.ts';

// An installed tfjs-node-gpu whose native library fails when its backend starts (e.g. no CUDA).
vi.mock('@tensorflow/tfjs-node-gpu', async () => {
  const core = await import('@tensorflow/tfjs-core');
  core.registerBackend('tensorflow', () => {
    throw new Error('libcudart.so.11.0: cannot open shared object file: No such file or directory');
  });
  return {};
});

/** What the reason says about the native kernels, built or not (native-kernels.test.ts tests both). */
function nativeNote(): string {
  const addon = loadNativeAddon();
  return addon.ok ? `native BLAS kernels (OpenBLAS ${openblasVersionAndCore(addon.addon.info().config)}, 1 thread)` : addon.why;
}

describe('engine fallback messages', () => {
  it("'auto' says why each tensorflow package is unusable and runs wasm", async () => {
    const info = await createEngine({ threads: 1 });
    expect(info.backend).toBe('wasm');
    expect(info.reason).toBe(
      'auto: @tensorflow/tfjs-node-gpu loaded but the tensorflow backend did not initialise; @tensorflow/tfjs-node is not installed, ' +
        `so wasm (SIMD, 1 thread) with project kernels; ${nativeNote()}`,
    );
  });

  it("forced 'tensorflow' fails with the same causes and how to fix it, leaving wasm selected", async () => {
    const attempt = createEngine({ backend: 'tensorflow' });
    await expect(attempt).rejects.toBeInstanceOf(EngineError);
    await expect(attempt).rejects.toThrow(
      "Backend 'tensorflow' was requested but is unavailable: @tensorflow/tfjs-node-gpu loaded but the tensorflow backend did not initialise; " +
        '@tensorflow/tfjs-node is not installed. Install @tensorflow/tfjs-node (or -gpu) or use --backend wasm.',
    );
    expect(tf.getBackend()).toBe('wasm');
  });

  it('WebGPU without its packages says what to install and leaves the backend alone', async () => {
    const result = await tryWebgpu();
    expect(result).toEqual({
      ok: false,
      why: 'the webgpu package (Dawn for Node) is not installed: npm install --no-save webgpu@0.6.2 @tensorflow/tfjs-backend-webgpu@4.22.0',
    });
    expect(tf.getBackend()).toBe('wasm');
  });
});
