/**
 * Batches written into and results read from the wasm heap directly (core's tensor-memory.ts)
 * hold the same values as the ordinary path, also once the heap has grown, and on the cpu backend
 * (which registers nothing) the ordinary path runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createExamples, createRng, inputsTensor, readTensorInto, tensorFilledBy } from '@unlearn-bench/core';
import { describe, expect, it } from 'vitest';
import { createEngine } from './index.ts';

function values(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

describe('tensor memory', () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    it(`${backend}: tensorFilledBy and readTensorInto move exactly the values, before and after the heap grows`, async () => {
      await createEngine({ backend });
      const data = values(64 * 784, 1);
      const before = tf.memory().numTensors;
      const t = tensorFilledBy([64, 784], (buffer) => buffer.set(data));
      expect(t.shape).toEqual([64, 784]);
      expect(t.dtype).toBe('float32');
      expect(t.dataSync()).toEqual(data);
      const out = new Float32Array(3 * 64 * 784).fill(-1);
      readTensorInto(t, out, 64 * 784);
      expect(out.subarray(64 * 784, 2 * 64 * 784)).toEqual(data);
      expect(out[0]).toBe(-1);
      expect(out[2 * 64 * 784]).toBe(-1);
      // Grow the heap (a 256 MB tensor), then read and write again through fresh views.
      const big = tf.zeros([64 * 1024 * 1024]);
      const u = tf.add(t, 1);
      const read = new Float32Array(64 * 784);
      readTensorInto(u, read, 0);
      expect(read).toEqual(Float32Array.from(data, (v) => Math.fround(v + 1)));
      const w = tensorFilledBy([2, 3], (buffer) => buffer.set([1, 2, 3, 4, 5, 6]));
      expect(Array.from(w.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
      // A fill that throws leaves no tensor behind.
      expect(() => tensorFilledBy([4], () => { throw new Error('no'); })).toThrow('no');
      tf.dispose([t, big, u, w]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('gathers a batch of examples into the same tensor as before', async () => {
    await createEngine({ backend: 'wasm' });
    const inputs = values(10 * 12, 2);
    const examples = createExamples(inputs, Int32Array.from({ length: 10 }, (_, i) => i % 3), [3, 4, 1]);
    const batch = inputsTensor(examples, [7, 2, 2, 9]);
    expect(batch.shape).toEqual([4, 3, 4, 1]);
    const expected = new Float32Array(4 * 12);
    [7, 2, 2, 9].forEach((j, i) => expected.set(inputs.subarray(j * 12, (j + 1) * 12), i * 12));
    expect(batch.dataSync()).toEqual(expected);
    batch.dispose();
  });
});
