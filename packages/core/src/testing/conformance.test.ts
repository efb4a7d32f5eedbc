import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { createBudgetMeter } from '../budget.ts';
import type { DatasetSplit } from '../data.ts';
import { defineUnlearner } from '../plugin/define.ts';
import { createRng } from '../rng.ts';
import { accuracy, trainSgd } from '../training.ts';
import { describeUnlearnerConformance } from './conformance.ts';
import { blobsDataset, createTestContext, mlpTestModel } from './index.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A minimal well-behaved unlearner: fine-tune the last layer on the retain set within the budget. */
const lastLayerFineTune = defineUnlearner<{ learningRate: number }>({
  id: 'last-layer-fine-tune',
  description: 'Fine-tunes the last layer (conformance self-test).',
  requires: ['parameters', 'layers'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { learningRate: { type: 'number', exclusiveMinimum: 0, default: 0.05, description: 'Learning rate.' } },
  },
  create(options, ctx) {
    return {
      unlearn({ model, retain, training }) {
        const copy = model.clone();
        const last = copy.layers().at(-1)!;
        trainSgd(copy, retain, { ...training, learningRate: options.learningRate, epochs: 100, maxExamples: ctx.meter.remaining, variables: last.parameters, rng: ctx.rng, meter: ctx.meter });
        return copy;
      },
    };
  },
});

describeUnlearnerConformance(lastLayerFineTune);

describe('testing/mlp', () => {
  it('learns the blobs, clones independently, and re-initialises one layer at a time', () => {
    const data = blobsDataset.create({ trainSize: 400, testSize: 200, dimension: 8, separation: 3 }, createTestContext(1)).load() as DatasetSplit;
    const model = mlpTestModel.create({ hidden: 16 }, { inputShape: [8], numClasses: 4 }, createTestContext()).build(createRng(1));
    expect(model.layers().map((l) => [l.name, l.parameters.map((p) => p.shape)])).toEqual([
      ['dense1', [[8, 16], [16]]],
      ['dense2', [[16, 4], [4]]],
    ]);
    trainSgd(model, data.train, { epochs: 5, batchSize: 16, learningRate: 0.05, momentum: 0.9, weightDecay: 0, rng: createRng(2), meter: createBudgetMeter() });
    expect(accuracy(model, data.test)).toBeGreaterThan(0.9);

    const copy = model.clone();
    const before = model.getWeights();
    copy.layers()[1].reinitialize(createRng(3));
    const after = copy.getWeights();
    expect(model.getWeights()).toEqual(before);
    expect(after.slice(0, 2)).toEqual(before.slice(0, 2));
    expect(after[2]).not.toEqual(before[2]);
    expect(Array.from(after[3])).toEqual([0, 0, 0, 0]);
    const limit = Math.sqrt(6 / 16);
    expect(after[2].every((v) => Math.abs(v) <= limit)).toBe(true);
    copy.dispose();
    model.dispose();
  });
});
