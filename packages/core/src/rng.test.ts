import { describe, expect, it } from 'vitest';
import { createRng } from './rng.ts';

describe('createRng', () => {
  it('repeats exactly for the same seed and differs across seeds', () => {
    const a = createRng(7);
    const b = createRng(7);
    const c = createRng(8);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
  });

  it('forks depend on the label and the seed, not on how much was drawn', () => {
    const a = createRng(3);
    const first = a.fork('x').next();
    a.next();
    expect(a.fork('x').next()).toBe(first);
    expect(a.fork('y').next()).not.toBe(first);
    expect(createRng(4).fork('x').next()).not.toBe(first);
  });

  it('draws uniforms with mean 1/2 and normals with mean 0, variance 1', () => {
    const rng = createRng(11);
    const n = 200_000;
    let u = 0;
    for (let i = 0; i < n; i++) u += rng.next();
    expect(u / n).toBeCloseTo(0.5, 2);
    const normals = rng.normalArray(n, 2);
    const mean = normals.reduce((s, v) => s + v, 0) / n;
    const variance = normals.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
    expect(Math.abs(mean)).toBeLessThan(0.02); // sd of the mean is 2/√n ≈ 0.0045
    expect(variance).toBeGreaterThan(3.9);
    expect(variance).toBeLessThan(4.1);
  });

  it('permutes every index exactly once', () => {
    const p = createRng(5).permutation(1000);
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect([...p]).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });
});
