import type { DatasetSplit } from '@unlearn-bench/core';
import { blobsDataset, createTestContext } from '@unlearn-bench/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { cleanSubsetAttack } from './index.ts';

let data: DatasetSplit;
beforeAll(async () => {
  data = await blobsDataset.create({ trainSize: 300, testSize: 10, dimension: 6, separation: 3 }, createTestContext(0)).load();
});

const rowsOf = (inputs: Float32Array, labels: Int32Array) => Array.from(labels, (y, i) => `${Array.from(inputs.subarray(i * 6, i * 6 + 6)).join(',')}|${y}`);

describe('core/clean-subset', () => {
  it('splits the training set into k untouched points and the rest', async () => {
    const result = await cleanSubsetAttack.create({ count: 30, fraction: 0.05 }, createTestContext(4)).poison({ data, models: undefined as never, training: undefined as never });
    expect(result.poisons.count).toBe(30);
    expect(result.clean.count).toBe(270);
    const all = rowsOf(data.train.inputs, data.train.labels);
    const poisons = rowsOf(result.poisons.inputs, result.poisons.labels);
    expect(poisons.every((row) => all.includes(row))).toBe(true); // unchanged inputs and labels
    expect([...rowsOf(result.clean.inputs, result.clean.labels), ...poisons].sort()).toEqual([...all].sort());
    expect(result.artifacts.keys()).toEqual([]);
  });

  it('uses the fraction when count is null', async () => {
    const result = await cleanSubsetAttack.create({ count: null, fraction: 0.1 }, createTestContext(4)).poison({ data, models: undefined as never, training: undefined as never });
    expect(result.poisons.count).toBe(30);
  });
});
