import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Artifacts, createRng, type DatasetSplit, type MetricResult } from '@unlearn-bench/core';
import { createTestContext, linearModel } from '@unlearn-bench/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { computeMetric } from '../compute/index.ts';
import { paramDistanceMetric, parameterDistance } from './index.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('core/param-distance', () => {
  it('computes ℓ1 and ℓ2 distances to the retrained and poisoned models', () => {
    const factory = linearModel.create({}, { inputShape: [2], numClasses: 2 }, createTestContext());
    const [model, retrained, poisoned] = [1, 2, 3].map((seed) => factory.build(createRng(seed)));
    model.setWeights([Float32Array.from([1, 2, 3, 4]), Float32Array.from([0, 0])]);
    retrained.setWeights([Float32Array.from([1, 2, 3, 4]), Float32Array.from([3, 4])]); // differs by (3, 4) in the bias
    poisoned.setWeights([Float32Array.from([0, 2, 3, 6]), Float32Array.from([0, 0])]); // differs by (1, 2) in the kernel
    const results = paramDistanceMetric.create({}, createTestContext()).compute({
      model, role: 'unlearned', data: undefined as unknown as DatasetSplit, clean: undefined as never, poisons: undefined as never, artifacts: new Artifacts(),
      references: { poisoned, retrained }, cost: { examples: 0, seconds: 0, retrainExamples: 1, retrainSeconds: 1 },
    }) as MetricResult[];
    expect(results.map((r) => [r.name, r.value])).toEqual([
      [undefined, 5],
      ['l1-retrained', 7],
      ['l2-poisoned', Math.sqrt(5)],
      ['l1-poisoned', 3],
    ]);
    expect(parameterDistance(model, model)).toEqual({ l1: 0, l2: 0 });
    for (const m of [model, retrained, poisoned]) m.dispose();
  });
});

describe('core/compute', () => {
  it('reports examples and seconds as fractions of retraining', () => {
    const result = computeMetric.create({}, createTestContext()).compute({
      model: undefined as never, role: 'unlearned', data: undefined as never, clean: undefined as never, poisons: undefined as never, artifacts: new Artifacts(),
      references: undefined as never, cost: { examples: 500, seconds: 2, retrainExamples: 10_000, retrainSeconds: 40 },
    }) as MetricResult;
    expect(result.value).toBe(0.05);
    expect(result.details).toEqual({ examples: 500, seconds: 2, retrainExamples: 10_000, secondsFraction: 0.05 });
  });
});
