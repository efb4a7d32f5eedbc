/**
 * Every built-in per-model metric passes core's metric conformance suite (the same one plugin
 * authors run). Metrics that read an attack's artifacts get a small attack in this file that
 * leaves that record, so this package needs no dependency on @unlearn-bench/attacks.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  Artifacts,
  BACKDOOR_TRIGGER,
  GAUSSIAN_NOISE,
  TARGETED_POISON,
  TRIGGERED_TEST,
  createExamples,
  defineAttack,
  selectExamples,
  type DatasetSplit,
  type PoisonResult,
} from '@unlearn-bench/core';
import { blobsDataset, createTestContext, describeMetricConformance, type ConformanceAttack, type ConformanceData } from '@unlearn-bench/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { accuracyMetric } from './accuracy/index.ts';
import { attackSuccessMetric } from './attack-success/index.ts';
import { computeMetric } from './compute/index.ts';
import { gradientAlignmentMetric } from './gradient-alignment/index.ts';
import { gusMetric } from './gus/index.ts';
import { metricsPlugin } from './index.ts';
import { miaLossMetric } from './mia-loss/index.ts';
import { paramDistanceMetric } from './param-distance/index.ts';
import { targetedSuccessMetric } from './targeted-success/index.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** An attack that takes the first 20 training points as poisons (their label shifted) and records `artifacts(data, poisons)`. */
function recordingAttack(id: string, artifacts: (data: DatasetSplit, result: Omit<PoisonResult, 'artifacts'>) => Artifacts): ConformanceAttack {
  return {
    definition: defineAttack<Record<string, never>>({
      id,
      description: `Leaves the record ${id} (metric conformance fixture).`,
      optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
      create() {
        return {
          poison({ data }) {
            const indices = Int32Array.from({ length: data.train.count }, (_, i) => i);
            const picked = selectExamples(data.train, indices.subarray(0, 20));
            const poisons = createExamples(picked.inputs, picked.labels.map((y) => (y + 1) % data.numClasses), picked.inputShape);
            const result = { clean: selectExamples(data.train, indices.subarray(20)), poisons };
            return { ...result, artifacts: artifacts(data, result) };
          },
        };
      },
    }) as ConformanceAttack['definition'],
  };
}

/** Blobs in 16 dimensions read as 4×4×1 images, for the patch trigger of attack-success. */
function imageBlobs(): ConformanceData {
  const split = blobsDataset.create({ trainSize: 200, testSize: 40, dimension: 16, separation: 3 }, createTestContext(1)).load() as DatasetSplit;
  const image = (e: DatasetSplit['train']) => createExamples(e.inputs, e.labels, [4, 4, 1]);
  return { split: { ...split, train: image(split.train), test: image(split.test) } };
}

const gaussianNoise = recordingAttack('gaussian-noise', (_data, { poisons }) => {
  const noise = createTestContext(5).rng.normalArray(poisons.inputs.length, 0.5);
  return new Artifacts().set(GAUSSIAN_NOISE, { sigma: 0.5, count: poisons.count, inputShape: poisons.inputShape, baseInputs: poisons.inputs.map((x, i) => x - noise[i]), noise, labels: poisons.labels });
});
const patchTrigger = recordingAttack('patch-trigger', () =>
  new Artifacts().set(BACKDOOR_TRIGGER, { target: 0, size: 2, row: 1, col: 1, pattern: new Float32Array(4).fill(3), inputShape: [4, 4, 1] }),
);
const triggeredTest = recordingAttack('triggered-test', (data) => {
  const others = Array.from(data.test.labels.keys()).filter((i) => data.test.labels[i] !== 0);
  const untriggered = selectExamples(data.test, others);
  return new Artifacts().set(TRIGGERED_TEST, { target: 0, untriggered, triggered: createExamples(untriggered.inputs.map((x, i) => (i % 8 === 0 ? x + 3 : x)), untriggered.labels, untriggered.inputShape) });
});
const targets = recordingAttack('targets', (data, { poisons }) => {
  const picked = selectExamples(data.test, [0, 1, 2]);
  return new Artifacts().set(TARGETED_POISON, {
    inputShape: picked.inputShape,
    targetInputs: picked.inputs,
    trueLabels: picked.labels,
    adversarialLabels: picked.labels.map((y) => (y + 1) % data.numClasses),
    poisonTargets: Int32Array.from({ length: poisons.count }, (_, i) => i % 3),
    baseInputs: poisons.inputs,
    epsilon: 0.1,
  });
});

describeMetricConformance(accuracyMetric);
describeMetricConformance(computeMetric);
describeMetricConformance(miaLossMetric);
describeMetricConformance(paramDistanceMetric);
// The retrained model's update to itself is zero, for which the span fraction is NaN (documented).
describeMetricConformance(gradientAlignmentMetric, { options: { samples: 16 }, allowNaN: [''] });
describeMetricConformance(gradientAlignmentMetric, { options: { samples: 8, layers: 2 }, model: 'mlp', allowNaN: [''] });
describeMetricConformance(gusMetric, { attack: gaussianNoise });
describeMetricConformance(gusMetric, { options: { control: false }, attack: gaussianNoise });
// Without Gaussian poisons GUS reports NaN ("not applicable").
describeMetricConformance(gusMetric, { allowNaN: [''] });
describeMetricConformance(attackSuccessMetric, { attack: patchTrigger, data: imageBlobs });
describeMetricConformance(attackSuccessMetric, { attack: triggeredTest });
// Without a backdoor record attack-success reports NaN ("not applicable").
describeMetricConformance(attackSuccessMetric, { allowNaN: [''] });
describeMetricConformance(targetedSuccessMetric, { attack: targets });

describe('metric conformance coverage', () => {
  it('covers every per-model metric of the plugin', () => {
    const covered = [accuracyMetric, computeMetric, miaLossMetric, paramDistanceMetric, gradientAlignmentMetric, gusMetric, attackSuccessMetric, targetedSuccessMetric];
    expect((metricsPlugin.metrics ?? []).filter((m) => !covered.includes(m as never)).map((m) => m.id)).toEqual([]);
  });
});
