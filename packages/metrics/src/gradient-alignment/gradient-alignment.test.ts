import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Artifacts, createRng, type DatasetSplit, type MetricResult } from '@unlearn-bench/core';
import { blobsDataset, createTestContext, linearModel } from '@unlearn-bench/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { gradientAlignmentMetric, spanFraction } from './index.ts';

describe('spanFraction', () => {
  it('is 1 inside the span, 0 orthogonal to it, and the squared cosine for one vector', () => {
    const e = (i: number, d = 4) => Float64Array.from({ length: d }, (_, j) => (j === i ? 1 : 0));
    expect(spanFraction([e(0), e(1)], Float64Array.from([3, -2, 0, 0])).fraction).toBeCloseTo(1, 12);
    expect(spanFraction([e(0), e(1)], Float64Array.from([0, 0, 5, 1])).fraction).toBeCloseTo(0, 12);
    expect(spanFraction([Float64Array.from([1, 1, 0, 0])], Float64Array.from([1, 0, 0, 0])).fraction).toBeCloseTo(0.5, 12);
    const dependent = spanFraction([e(0), Float64Array.from([2, 0, 0, 0]), e(2)], Float64Array.from([1, 1, 1, 1]));
    expect(dependent.rank).toBe(2);
    expect(dependent.fraction).toBeCloseTo(0.5, 12);
  });

  it('gives about m/d for a random direction', () => {
    const rng = createRng(9);
    const d = 400;
    const vectors = Array.from({ length: 40 }, () => Float64Array.from(rng.normalArray(d)));
    const { fraction } = spanFraction(vectors, Float64Array.from(rng.normalArray(d)));
    expect(fraction).toBeGreaterThan(0.05);
    expect(fraction).toBeLessThan(0.16); // mean 0.1, sd ≈ 0.015
  });
});

describe('core/gradient-alignment', () => {
  let data: DatasetSplit;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    data = await blobsDataset.create({ trainSize: 100, testSize: 10, dimension: 6, separation: 2 }, createTestContext(1)).load();
  });

  it('finds an update built from clean gradients fully inside their span, and a random one mostly outside', () => {
    const factory = linearModel.create({}, { inputShape: [6], numClasses: 4 }, createTestContext());
    const model = factory.build(createRng(1));
    const inSpan = model.clone();
    const random = factory.build(createRng(2));
    const metric = gradientAlignmentMetric.create({ samples: 3, layers: 1 }, createTestContext(5));
    const input = (retrained: typeof model) => ({
      model, role: 'poisoned' as const, data, clean: data.train, poisons: data.test, artifacts: new Artifacts(),
      references: { poisoned: model, retrained }, cost: { examples: 0, seconds: 0, retrainExamples: 1, retrainSeconds: 1 },
    });
    // retrained = model − 0.5·(sum of the 3 sampled clean gradients): one SGD step on those points.
    const sampled = createRng(5).fork('samples').permutation(100).slice(0, 3);
    const gradient = tf.tidy(() => {
      const x = tf.tensor(Array.from(sampled).map((i) => Array.from(data.train.inputs.subarray(i * 6, i * 6 + 6))));
      const y = tf.oneHot(tf.tensor1d(Array.from(sampled, (i) => data.train.labels[i]), 'int32'), 4);
      return tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.logits(x), undefined, tf.Reduction.SUM) as tf.Scalar, model.parameters() as tf.Variable[]).grads;
    });
    inSpan.setWeights(model.getWeights().map((w, k) => {
      const g = gradient[model.parameters()[k].name].dataSync();
      return w.map((v, j) => v - 0.5 * g[j]);
    }));
    const inside = metric.compute(input(inSpan)) as MetricResult;
    expect(inside.value).toBeCloseTo(1, 3); // float32 weights
    expect(inside.details).toMatchObject({ rank: 3, dimension: 28 });
    const outside = metric.compute(input(random)) as MetricResult;
    expect(outside.value).toBeLessThan(0.6);
    tf.dispose(Object.values(gradient));
    for (const m of [model, inSpan, random]) m.dispose();
  });
});
