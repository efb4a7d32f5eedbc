import * as tf from '@tensorflow/tfjs-core';
import { EngineError } from '@unlearn-bench/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEngine } from './index.ts';

// createEngine keeps the engine it made and 'auto' (or the same forced choice) returns it, so the
// order matters: auto first, then cpu, tensorflow, and wasm forced after cpu.
describe('createEngine', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("'auto' picks wasm, saying that tensorflow is unavailable", async () => {
    const info = await createEngine();
    expect(info.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.reason).toMatch(/^auto: /);
    expect(info.reason).toMatch(/@tensorflow\/tfjs-node is not installed/);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(await createEngine({ backend: 'auto' })).toBe(info);
  });

  it("forced 'cpu' works, without the cpu backend's Node.js advice", async () => {
    const warn = vi.spyOn(console, 'warn');
    const info = await createEngine({ backend: 'cpu' });
    expect(info.backend).toBe('cpu');
    expect(info.threads).toBe(1);
    expect(tf.getBackend()).toBe('cpu');
    const sum = tf.add(tf.scalar(1), tf.scalar(2));
    expect(await sum.data()).toEqual(new Float32Array([3]));
    sum.dispose();
    expect((tf.backend() as { firstUse?: boolean }).firstUse).toBe(false);
    expect(warn.mock.calls.flat().join(' ')).not.toMatch(/looks like you are running TensorFlow\.js in Node\.js/);
  });

  it("forced 'tensorflow' throws an EngineError saying @tensorflow/tfjs-node is not installed", async () => {
    const attempt = createEngine({ backend: 'tensorflow' });
    await expect(attempt).rejects.toBeInstanceOf(EngineError);
    await expect(attempt).rejects.toThrow(/@tensorflow\/tfjs-node is not installed/);
    // The failed attempt leaves the previous backend in place.
    expect(tf.getBackend()).toBe('cpu');
  });

  it("forced 'wasm' (after cpu) works, reports it, and has the project's filter gradient", async () => {
    const info = await createEngine({ backend: 'wasm' });
    expect(info.backend).toBe('wasm');
    expect(info.reason).toMatch(/^forced; (native BLAS kernels \(OpenBLAS .+\)|native kernels not built: .+|native kernels turned off .+)$/);
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    const x = tf.ones([1, 4, 4, 1]) as tf.Tensor4D;
    const g = tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(x, w as tf.Tensor4D, 1, 'valid')))(tf.ones([3, 3, 1, 1]));
    expect(Array.from(await g.data())).toEqual(new Array(9).fill(4));
    tf.dispose([x, g]);
  });
});
