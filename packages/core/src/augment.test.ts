/** The recipe's data augmentation (issue 15): random crop after zero padding and horizontal flip. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtureManifest, fixtureRegistry } from '../tests/fixture-plugin.ts';
import { createBudgetMeter } from './budget.ts';
import { createExamples } from './data.ts';
import { planCells, validateManifest } from './index.ts';
import type { ClassifierModel } from './model.ts';
import { createRng, type Rng } from './rng.ts';
import { augmentBatch, crossEntropy, trainSgd } from './training.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** An Rng whose int() returns the given values in turn (to place each shift and flip by hand). */
function scripted(values: number[]): Rng {
  const rng = createRng(1);
  let i = 0;
  return Object.assign(Object.create(rng) as Rng, { int: () => values[i++] });
}

/** A 3×4 image with 2 channels, pixel (y, x, c) = 100y + 10x + c + 1 (no zero inside). */
function image(): Float32Array {
  const out = new Float32Array(3 * 4 * 2);
  for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) for (let c = 0; c < 2; c++) out[(y * 4 + x) * 2 + c] = 100 * y + 10 * x + c + 1;
  return out;
}
const at = (img: Float32Array, y: number, x: number, c: number) => img[(y * 4 + x) * 2 + c];

describe('augmentBatch', () => {
  it('shifts by (dy, dx) in [−crop, crop] with zeros from the padding, and keeps the shape', () => {
    const img = image();
    // crop 2: int(5) − 2; draws dy = 1 (int 3), dx = −2 (int 0).
    augmentBatch(img, 1, [3, 4, 2], { crop: 2 }, scripted([3, 0]));
    const original = image();
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 4; x++) {
        for (let c = 0; c < 2; c++) {
          const sy = y + 1;
          const sx = x - 2;
          const expected = sy < 3 && sx >= 0 ? at(original, sy, sx, c) : 0;
          expect(at(img, y, x, c)).toBe(expected);
        }
      }
    }
    expect(img.length).toBe(24);
  });

  it('mirrors left-right (channels kept together), and twice is the identity', () => {
    const img = image();
    augmentBatch(img, 1, [3, 4, 2], { flip: true }, scripted([1]));
    for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) for (let c = 0; c < 2; c++) expect(at(img, y, x, c)).toBe(at(image(), y, 3 - x, c));
    augmentBatch(img, 1, [3, 4, 2], { flip: true }, scripted([1]));
    expect(img).toEqual(image());
    augmentBatch(img, 1, [3, 4, 2], { flip: true }, scripted([0])); // heads: unchanged
    expect(img).toEqual(image());
  });

  it('with a real seed: flips about half the images, shifts uniformly over [−crop, crop], and the same seed gives the same batch', () => {
    const n = 4000;
    const batch = () => {
      const images = new Float32Array(n * 24);
      for (let i = 0; i < n; i++) images.set(image(), i * 24);
      augmentBatch(images, n, [3, 4, 2], { flip: true }, createRng(7));
      return images;
    };
    const a = batch();
    expect(batch()).toEqual(a);
    let flipped = 0;
    for (let i = 0; i < n; i++) if (a[i * 24] !== 1) flipped++;
    // Binomial(4000, 1/2): mean 2000, sd 31.6; ±5 sd.
    expect(Math.abs(flipped - n / 2)).toBeLessThan(160);
    const counts = new Map<number, number>();
    const rng = createRng(3);
    const probe = new Float32Array(24);
    for (let i = 0; i < 5000; i++) {
      probe.set(image());
      augmentBatch(probe, 1, [3, 4, 2], { crop: 1 }, rng);
      // Pixel (1, 1) after a shift (dy, dx) ∈ {−1, 0, 1}² holds the original (1 + dy, 1 + dx).
      counts.set(probe[(1 * 4 + 1) * 2], (counts.get(probe[(1 * 4 + 1) * 2]) ?? 0) + 1);
    }
    expect(counts.size).toBe(9);
    // 5000/9 = 556 each, sd 22: all within ±5 sd.
    for (const count of counts.values()) expect(Math.abs(count - 5000 / 9)).toBeLessThan(115);
  });
});

describe('training.augment', () => {
  const registry = fixtureRegistry;
  const manifest = fixtureManifest;
  const recipe = { epochs: 2, batchSize: 8, learningRate: 0.1 };

  it('is part of the recipe: it changes the cells keys, its defaults are filled in, unknown fields are refused', () => {
    const plain = planCells(validateManifest(manifest(recipe), registry()), 'cpu')[0].key;
    const augmented = validateManifest(manifest({ ...recipe, augment: { crop: 4, flip: true } }), registry());
    expect(planCells(augmented, 'cpu')[0].key).not.toBe(plain);
    expect(validateManifest(manifest({ ...recipe, augment: { flip: true } }), registry()).training.augment).toEqual({ crop: 0, flip: true });
    expect(() => validateManifest(manifest({ ...recipe, augment: { rotate: 10 } }), registry())).toThrow(/training\.augment/);
  });

  it('changes what is trained on, deterministically per seed; refuses inputs that are not images', () => {
    const rng = createRng(5);
    const count = 32;
    const inputs = Float32Array.from({ length: count * 4 * 4 * 1 }, () => rng.next());
    const labels = Int32Array.from({ length: count }, (_, i) => i % 2);
    const examples = createExamples(inputs, labels, [4, 4, 1]);
    const train = (augment?: object, seed = 1) => {
      const kernel = tf.variable(tf.zeros([16, 2]));
      const model = { logits: (x: tf.Tensor) => tf.matMul(tf.reshape(x, [-1, 16]), kernel), parameters: () => [kernel] } as unknown as ClassifierModel;
      trainSgd(model, examples, { ...recipe, momentum: 0, weightDecay: 0, augment, rng: createRng(seed), meter: createBudgetMeter(), loss: (m, x, y) => crossEntropy(m.logits(x) as tf.Tensor2D, y) });
      const values = kernel.dataSync().slice();
      kernel.dispose();
      return values;
    };
    const plain = train();
    const augmented = train({ crop: 1, flip: true });
    expect(augmented).not.toEqual(plain);
    expect(train({ crop: 1, flip: true })).toEqual(augmented);
    expect(train({ crop: 0, flip: false })).toEqual(plain); // nothing to do: the same run as without
    const flat = createExamples(inputs, labels, [16]);
    const kernel = tf.variable(tf.zeros([16, 2]));
    const model = { logits: (x: tf.Tensor) => tf.matMul(x as tf.Tensor2D, kernel), parameters: () => [kernel] } as unknown as ClassifierModel;
    expect(() => trainSgd(model, flat, { ...recipe, momentum: 0, weightDecay: 0, augment: { flip: true }, rng: createRng(1), meter: createBudgetMeter() })).toThrow(/applies to images \[height, width, channels\]; these inputs have shape \[16\]/);
    kernel.dispose();
  });
});
