import { createRng } from '@unlearn-bench/core';
import { describe, expect, it } from 'vitest';
import { encodeScores, gusScores, summarizeScores } from './index.ts';

describe('gusScores', () => {
  it('computes ⟨ξ, g⟩ / (σ‖g‖) per row and skips zero gradients', () => {
    const gradients = Float32Array.from([3, 4, 0, 0, 1, 0]);
    const noise = Float32Array.from([1, 2, 5, 5, -2, 7]);
    const { scores, skipped } = gusScores(gradients, noise, 2, 2);
    expect(skipped).toBe(1);
    expect([...scores]).toEqual([(3 * 1 + 4 * 2) / (2 * 5), (-2 * 1) / (2 * 1)]);
  });

  it('is N(0, 1) when the noise is independent of the gradients', () => {
    // Known null distribution: for any fixed g and ξ ~ N(0, σ²I), I ~ N(0, 1).
    const rng = createRng(42);
    const k = 4000;
    const d = 50;
    const gradients = rng.fork('g').normalArray(k * d, 1).map((v, i) => v * (1 + (i % 7))); // anisotropic g
    const noise = rng.fork('xi').normalArray(k * d, 0.3);
    const { scores } = gusScores(gradients, noise, 0.3, d);
    const summary = summarizeScores(scores, 0, 0.3);
    expect(Math.abs(summary.value)).toBeLessThan(3.5); // z ~ N(0,1)
    expect(summary.details!.std as number).toBeGreaterThan(0.95);
    expect(summary.details!.std as number).toBeLessThan(1.05);
    expect(summary.details!.tprAt1Fpr as number).toBeGreaterThan(0.005); // ≈ 1% under the null
    expect(summary.details!.tprAt1Fpr as number).toBeLessThan(0.016);
  });

  it('turns a shift of the scores into z = √k·mean and a small p-value', () => {
    const scores = Float64Array.from({ length: 100 }, (_, i) => -0.5 + (i % 2 === 0 ? 0.1 : -0.1));
    const summary = summarizeScores(scores, 0, 1);
    expect(summary.value).toBeCloseTo(-5, 10);
    expect(summary.details!.pValue as number).toBeLessThan(1e-6);
  });

  it('stores every score, rounded to 4 decimals, in details.scores', () => {
    const scores = Float64Array.from([-0.61234567, 1.00005, 0, 2.5, -3.99999, 1e-7]);
    const stored = summarizeScores(scores, 0, 1).details!.scores as string;
    expect(stored).toBe('-0.6123 1.0001 0 2.5 -4 0');
    const read = stored.split(' ').map(Number);
    read.forEach((v, i) => expect(Math.abs(v - scores[i])).toBeLessThanOrEqual(5e-5));
    expect(encodeScores(new Float64Array(0))).toBe('');
  });
});
