import { Artifacts, BACKDOOR_TRIGGER, createBudgetMeter, createExamples, createRng, silentLogger, type BackdoorTriggerRecord, type ClassifierModel, type DatasetSplit, type MetricResult, type PluginContext } from '@unlearn-bench/core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { attackSuccessMetric } from './index.ts';

const context = (): PluginContext => ({ rng: createRng(0), logger: silentLogger, engine: { backend: 'cpu', reason: 'test', threads: 1 }, meter: createBudgetMeter() });

/** A fixed "model" on 4×4 images: predicts class 2 when pixel (3, 3) is bright, else the class in pixel (0, 0). */
const rule: ClassifierModel = {
  inputShape: [4, 4, 1],
  numClasses: 3,
  capabilities: new Set(),
  logits: (x) => tf.tidy(() => {
    const flat = tf.reshape(x, [x.shape[0], 16]);
    const trigger = tf.greater(tf.slice(flat, [0, 15], [-1, 1]), 0.5);
    const own = tf.cast(tf.slice(flat, [0, 0], [-1, 1]), 'int32');
    return tf.oneHot(tf.reshape(tf.where(trigger, tf.fill(trigger.shape, 2, 'int32'), own), [-1]), 3).toFloat() as tf.Tensor2D;
  }),
  parameters: () => [],
  layers: () => [],
  clone: () => rule,
  getWeights: () => [],
  setWeights: () => {},
  dispose: () => {},
};

let data: DatasetSplit;
const cost = { examples: 0, seconds: 0, retrainExamples: 0, retrainSeconds: 0 };
beforeAll(async () => {
  await tf.setBackend('cpu');
  (tf.backend() as { firstUse?: boolean }).firstUse = false; // no "install tfjs-node" banner
  const inputs = new Float32Array(6 * 16);
  const labels = Int32Array.from([0, 1, 2, 0, 1, 2]);
  labels.forEach((y, i) => (inputs[i * 16] = y));
  const test = createExamples(inputs, labels, [4, 4, 1]);
  data = { name: 'toy', train: test, test, numClasses: 3 };
});

const compute = (trigger: BackdoorTriggerRecord) =>
  attackSuccessMetric.create({ batchSize: 4 }, context()).compute({ model: rule, role: 'poisoned', data, clean: data.train, poisons: data.train, artifacts: new Artifacts().set(BACKDOOR_TRIGGER, trigger), references: { poisoned: rule, retrained: rule }, cost }) as MetricResult;

describe('core/attack-success', () => {
  it('counts triggered non-target test images classified as the target', () => {
    const hit = compute({ target: 2, size: 1, row: 3, col: 3, pattern: Float32Array.of(1), inputShape: [4, 4, 1] });
    expect(hit.value).toBe(1);
    expect(hit.details).toEqual({ examples: 4, target: 2, untriggeredRate: 0 });
    // A patch elsewhere does not fire the rule: success is the clean rate.
    const miss = compute({ target: 2, size: 1, row: 1, col: 1, pattern: Float32Array.of(1), inputShape: [4, 4, 1] });
    expect(miss.value).toBe(0);
  });

  it('is n/a (NaN, applicable: false) for cells of an attack without a trigger, e.g. core/gaussian beside a backdoor', () => {
    const result = attackSuccessMetric.create({ batchSize: 4 }, context()).compute({ model: rule, role: 'poisoned', data, clean: data.train, poisons: data.train, artifacts: new Artifacts(), references: { poisoned: rule, retrained: rule }, cost }) as MetricResult;
    expect(result.value).toBeNaN();
    expect(result.details).toEqual({ applicable: false });
  });
});
