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

  it('draws ziggurat normals that repeat per seed and follow N(0, sd²), tails included', () => {
    expect(createRng(7).fastNormalArray(1000)).toEqual(createRng(7).fastNormalArray(1000));
    expect(createRng(7).fastNormalArray(1000)).not.toEqual(createRng(8).fastNormalArray(1000));
    expect(createRng(7).fastNormalArray(1000)).not.toEqual(createRng(7).normalArray(1000));
    // Pearson's chi-square over 22 bins with edges 0, ±0.25, ±0.5, ±0.75, ±1, ±1.5, ±2, ±2.5, ±3,
    // ±r (3.4426..., where the ziggurat's tail algorithm takes over) and ±4. Bin probabilities of
    // the negative half, from −∞ up to 0, by scipy.stats.norm.cdf (SciPy 1.17); the positive half
    // mirrors them. At α = 0.001 the critical value is chi2.ppf(0.999, 21) = 46.797, so a correct
    // generator fails this check on one seed in a thousand; the seeds here are fixed.
    const half = [3.167124183e-5, 0.0002563830144, 0.001061843775, 0.004859767294, 0.01654046662, 0.04405706932, 0.09184805266, 0.06797209845, 0.08191018635, 0.09275613559, 0.09870632568];
    const probabilities = [...half, ...half.slice().reverse()];
    const edges = [0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 3.442619855899, 4];
    const signedEdges = [...edges.map((e) => -e).reverse(), 0, ...edges];
    const n = 2_000_000;
    for (const [seed, sd] of [[11, 1], [12, 0.01]]) {
      const draws = createRng(seed).fastNormalArray(n, sd);
      const counts = new Array<number>(probabilities.length).fill(0);
      let sum = 0;
      let squares = 0;
      for (const value of draws) {
        const z = value / sd;
        let bin = 0;
        while (bin < signedEdges.length && z >= signedEdges[bin]) bin++;
        counts[bin]++;
        sum += z;
        squares += z * z;
      }
      const chiSquare = counts.reduce((total, count, i) => total + (count - n * probabilities[i]) ** 2 / (n * probabilities[i]), 0);
      expect(chiSquare).toBeLessThan(46.797);
      // Mean within 4 standard errors of 0, variance within 4 of 1 (sd of the sample variance ≈ √(2/n)).
      expect(Math.abs(sum / n)).toBeLessThan(4 / Math.sqrt(n));
      expect(Math.abs(squares / n - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
    }
  });

  it('permutes every index exactly once', () => {
    const p = createRng(5).permutation(1000);
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect([...p]).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });
});
