import * as tf from '@tensorflow/tfjs-core';
import { createRng, crossEntropy, inputsTensor, labelsTensor, type ClassifierModel, type Examples, type ModelFactory } from '@unlearn-bench/core';
import { createTestContext, describeUnlearnerConformance } from '@unlearn-bench/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPoisonedFixture, training, weightsOf } from '../test-fixture.ts';
import { referenceSample, ssdUnlearner, type SsdOptions } from './index.ts';

let factory: ModelFactory;
let poisoned: ClassifierModel;
let forget: Examples;
let retain: Examples;
/** Per-example gradients (float64), one array per parameter: of every retain point, then every forget point. */
let perExample: Float64Array[][];

beforeAll(async () => {
  ({ factory, poisoned, forget, retain } = await createPoisonedFixture());
  const gradientsOf = (examples: Examples) =>
    Array.from({ length: examples.count }, (_, i) =>
      tf
        .tidy(() => {
          const { grads } = tf.variableGrads(() => crossEntropy(poisoned.logits(inputsTensor(examples, [i])), labelsTensor(examples, [i])), poisoned.parameters() as tf.Variable[]);
          return poisoned.parameters().map((v) => Float32Array.from(grads[v.name].dataSync()));
        })
        .map((g) => Float64Array.from(g)),
    );
  perExample = [...gradientsOf(retain), ...gradientsOf(forget)];
});
afterAll(() => poisoned.dispose());

const input = () => ({ model: poisoned, forget, retain, training, models: factory });
const defaults: SsdOptions = { alpha: 10, lambda: 1, batchSize: 128, reference: 'subsample' };

/**
 * Independent importance: consecutive batches of `batchSize` rows of `rows` (indices into
 * `perExample`), each batch's gradient the mean of its per-example gradients, squared, averaged
 * over batches.
 */
function importanceOf(rows: readonly number[], batchSize: number): Float64Array[] {
  const sums = perExample[0].map((g) => new Float64Array(g.length));
  let batches = 0;
  for (let offset = 0; offset < rows.length; offset += batchSize) {
    const batch = rows.slice(offset, offset + batchSize);
    sums.forEach((sum, p) => {
      for (let j = 0; j < sum.length; j++) {
        let g = 0;
        for (const row of batch) g += perExample[row][p][j];
        g /= batch.length;
        sum[j] += g * g;
      }
    });
    batches += 1;
  }
  return sums.map((s) => s.map((v) => v / batches));
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describeUnlearnerConformance(ssdUnlearner);

describe('core/ssd', () => {
  // D = S ∪ U in the authors' order (S, then U): rows 0..379 are S, 380..399 are U.
  const sRows = range(0, 380);
  const uRows = range(380, 400);

  for (const batchSize of [1, 16]) {
    it(`with room for all of D, uses U and all of D = S ∪ U as the reference and dampens by min(λ·r/f, 1) where f > α·r (batch size ${batchSize})`, () => {
      const alpha = 10;
      const lambda = 1;
      const f = importanceOf(uRows, batchSize);
      const r = importanceOf([...sRows, ...uRows], batchSize);
      const rRetainOnly = importanceOf(sRows, batchSize);
      const before = poisoned.getWeights();
      for (const reference of ['subsample', 'full'] as const) {
        const ctx = createTestContext(4, 420);
        const after = weightsOf(ssdUnlearner.create({ alpha, lambda, batchSize, reference }, ctx).unlearn(input()) as ClassifierModel);
        expect(ctx.meter.used).toBe(20 + 400);
        let dampened = 0;
        let differsFromRetainOnly = 0;
        before.forEach((w, p) =>
          w.forEach((old, j) => {
            const selected = f[p][j] > alpha * r[p][j];
            const expected = selected ? old * Math.min((lambda * r[p][j]) / f[p][j], 1) : old;
            // Ratios within float32 rounding of α are left out: either outcome is right there.
            if (Math.abs(f[p][j] / (alpha * r[p][j]) - 1) < 1e-3) return;
            expect(after[p][j]).toBeCloseTo(expected, 4);
            if (selected) dampened += 1;
            const selectedRetainOnly = f[p][j] > alpha * rRetainOnly[p][j];
            if (selectedRetainOnly !== selected) differsFromRetainOnly += 1;
          }),
        );
        expect(dampened).toBeGreaterThan(0);
        // The reference on S alone (the old behaviour) would select a different set of parameters.
        expect(differsFromRetainOnly).toBeGreaterThan(0);
      }
    });
  }

  it('draws a reference subsample of D stratified so U keeps its share, in dataset order, and all of D when it fits', () => {
    const sample = referenceSample(380, 20, 80, createRng(3));
    expect(sample.forget.length).toBe(4); // 80 · 20/400
    expect(sample.retain.length).toBe(76);
    for (const [rows, n] of [[sample.retain, 380], [sample.forget, 20]] as const) {
      expect(new Set(rows).size).toBe(rows.length);
      expect(rows.every((v, i) => v >= 0 && v < n && (i === 0 || v > rows[i - 1]))).toBe(true);
    }
    expect(referenceSample(380, 20, 80, createRng(3))).toEqual(sample);
    expect(referenceSample(380, 20, 80, createRng(4))).not.toEqual(sample);
    const all = referenceSample(380, 20, 400, createRng(3));
    expect(Array.from(all.retain)).toEqual(sRows);
    expect(Array.from(all.forget)).toEqual(range(0, 20));
    // A forget share that rounds to zero draws nothing from U.
    expect(referenceSample(380, 20, 9, createRng(3)).forget.length).toBe(0);
  });

  it('counts every importance example against the budget: at most half for the forget set, the rest a reference subsample of D', () => {
    const ctx = createTestContext(4, 100);
    weightsOf(ssdUnlearner.create({ ...defaults, batchSize: 1 }, ctx).unlearn(input()) as ClassifierModel);
    expect(ctx.meter.used).toBe(100);
    const tight = createTestContext(4, 30);
    weightsOf(ssdUnlearner.create({ ...defaults, batchSize: 4 }, tight).unlearn(input()) as ClassifierModel);
    expect(tight.meter.used).toBe(30);
    const generous = createTestContext(4, 5000);
    weightsOf(ssdUnlearner.create(defaults, generous).unlearn(input()) as ClassifierModel);
    expect(generous.meter.used).toBe(420);
  });

  it('with reference "full", refuses a budget below |U| + |D| and says what budget it needs', () => {
    expect(() => ssdUnlearner.create({ ...defaults, reference: 'full' }, createTestContext(4, 419)).unlearn(input())).toThrowErrorMatchingInlineSnapshot(
      `[RangeError: core/ssd: options.reference is "full", which needs 420 budget examples (|U| = 20 for the forget importance, |D| = |S| + |U| = 400 for the reference), but the budget allows 419; use a budget of at least 0.368 of retraining's compute, or set reference to "subsample"]`,
    );
  });

  it('with a smaller α dampens more parameters', () => {
    const count = (alpha: number) => {
      const after = weightsOf(ssdUnlearner.create({ ...defaults, alpha, batchSize: 1 }, createTestContext(4, 420)).unlearn(input()) as ClassifierModel);
      return poisoned.getWeights().reduce((n, w, p) => n + w.filter((v, j) => v !== after[p][j]).length, 0);
    };
    expect(count(1)).toBeGreaterThan(count(10));
  });
});
