import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createBudgetMeter, createRng, selectExamples, trainSgd, Artifacts, type DatasetSplit, type MetricResult } from '@unlearn-bench/core';
import { blobsDataset, createTestContext, linearModel } from '@unlearn-bench/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { calibrateThreshold, lossAuc, miaLossMetric } from './index.ts';

describe('lossAuc', () => {
  it('equals the brute-force pair count, ties counting ½', () => {
    const rng = createRng(3);
    const members = Array.from({ length: 60 }, () => Math.round(rng.next() * 20) / 4);
    const nonMembers = Array.from({ length: 80 }, () => Math.round(rng.next() * 24) / 4);
    let wins = 0;
    for (const a of members) for (const b of nonMembers) wins += a < b ? 1 : a === b ? 0.5 : 0;
    expect(lossAuc(members, nonMembers)).toBeCloseTo(wins / (60 * 80), 12);
    expect(lossAuc([0, 1], [2, 3])).toBe(1);
    expect(lossAuc([2, 3], [0, 1])).toBe(0);
  });
});

describe('calibrateThreshold', () => {
  it('admits at most the target fraction of non-members', () => {
    const losses = Array.from({ length: 200 }, (_, i) => i / 10);
    const tau = calibrateThreshold(losses, 0.05);
    expect(losses.filter((l) => l <= tau).length).toBe(10);
    expect(losses.filter((l) => l <= calibrateThreshold(losses, 0.001)).length).toBe(0);
    const tied = [1, 1, 1, 1, 2, 3, 4, 5, 6, 7];
    expect(tied.filter((l) => l <= calibrateThreshold(tied, 0.2)).length).toBe(0);
  });
});

describe('core/mia-loss', () => {
  let data: DatasetSplit;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    data = await blobsDataset.create({ trainSize: 400, testSize: 400, dimension: 40, separation: 1 }, createTestContext(1)).load();
  });

  const measure = (trainOn: DatasetSplit['train'], members: DatasetSplit['train'], epochs: number): MetricResult => {
    const factory = linearModel.create({}, { inputShape: [40], numClasses: 4 }, createTestContext(1));
    const model = factory.build(createRng(2));
    try {
      trainSgd(model, trainOn, { epochs, batchSize: 8, learningRate: 0.2, momentum: 0.9, weightDecay: 0, rng: createRng(3), meter: createBudgetMeter() });
      const metric = miaLossMetric.create({ fpr: 0.01, calibrationFraction: 0.5 }, createTestContext(4));
      return metric.compute({
        model, role: 'poisoned', data, clean: trainOn, poisons: members, artifacts: new Artifacts(),
        references: { poisoned: model, retrained: model }, cost: { examples: 0, seconds: 0, retrainExamples: 1, retrainSeconds: 1 },
      }) as MetricResult;
    } finally {
      model.dispose();
    }
  };

  it('is at chance for points the model never saw', () => {
    const unseen = selectExamples(data.train, Int32Array.from({ length: 100 }, (_, i) => 300 + i));
    const trainOn = selectExamples(data.train, Int32Array.from({ length: 300 }, (_, i) => i));
    const result = measure(trainOn, unseen, 20);
    expect(Math.abs(result.value - 0.5)).toBeLessThan(0.08); // AUC sd ≈ 0.03 here
    expect(result.details!.realisedFpr as number).toBeLessThan(0.05);
  });

  it('detects members of an overfitted model', () => {
    const small = selectExamples(data.train, Int32Array.from({ length: 40 }, (_, i) => i));
    const result = measure(small, small, 200);
    expect(result.value).toBeGreaterThan(0.8);
    expect(result.details!.tpr as number).toBeGreaterThan(0.02); // above the 1% a blind attack gets
  });
});
