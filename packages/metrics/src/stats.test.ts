import { describe, expect, it } from 'vitest';
import { erfc, meanStd, normalCdf, normalQuantile, twoSidedP } from './stats.ts';

describe('normal distribution helpers', () => {
  it('match tabulated values', () => {
    expect(erfc(0)).toBeCloseTo(1, 7);
    expect(erfc(1)).toBeCloseTo(0.157299207, 7);
    expect(erfc(-1)).toBeCloseTo(1.842700793, 7);
    expect(normalCdf(1.959963985)).toBeCloseTo(0.975, 7);
    expect(twoSidedP(1.959963985)).toBeCloseTo(0.05, 7);
    expect(twoSidedP(-3)).toBeCloseTo(0.002699796, 8);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326347874, 6);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 6);
    expect(normalQuantile(0.999)).toBeCloseTo(3.090232306, 6);
  });

  it('quantile inverts the CDF', () => {
    for (const p of [1e-6, 0.001, 0.02, 0.3, 0.7, 0.98, 0.99999]) expect(normalCdf(normalQuantile(p))).toBeCloseTo(p, 7);
  });

  it('computes mean and sample standard deviation', () => {
    expect(meanStd([2, 4, 4, 4, 5, 5, 7, 9])).toEqual({ mean: 5, std: Math.sqrt(32 / 7) });
    expect(meanStd([3]).std).toBeNaN();
  });
});
