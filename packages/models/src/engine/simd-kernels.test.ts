import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { SIMD_KERNELS_SOURCE_SHA256 } from './simd-kernels.generated.ts';
import { simdKernels } from './simd-kernels.ts';
import type { WasmBackend } from './wasm-util.ts';

describe('SIMD kernels', () => {
  it('were built from the current simd-kernels.wat (else run build-simd-kernels.ts)', () => {
    const source = readFileSync(new URL('./simd-kernels.wat', import.meta.url));
    expect(createHash('sha256').update(source).digest('hex')).toBe(SIMD_KERNELS_SOURCE_SHA256);
  });

  it('load into the Node wasm backend, so the kernels above run them rather than a fallback', async () => {
    expect(await tf.setBackend('wasm')).toBe(true);
    const kernels = simdKernels(tf.backend() as WasmBackend);
    expect(kernels).toBeDefined();
    expect(typeof kernels?.filter_grad).toBe('function');
    expect(typeof kernels?.max_pool_grad_2x2).toBe('function');
    expect(typeof kernels?.sum_rows).toBe('function');
  });
});
