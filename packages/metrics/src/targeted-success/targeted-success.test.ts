import { Artifacts, TARGETED_POISON, createBudgetMeter, createExamples, createRng, silentLogger, type ClassifierModel, type DatasetSplit, type MetricResult, type PluginContext } from '@unlearn-bench/core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { accuracyMetric } from '../accuracy/index.ts';
import { targetedSuccessMetric } from './index.ts';

const context = (): PluginContext => ({ rng: createRng(0), logger: silentLogger, engine: { backend: 'cpu', reason: 'test', threads: 1 }, meter: createBudgetMeter() });

/** Predicts the class stored in the first input value. */
const echo: ClassifierModel = {
  inputShape: [2],
  numClasses: 3,
  capabilities: new Set(),
  logits: (x) => tf.tidy(() => tf.oneHot(tf.cast(tf.reshape(tf.slice(x, [0, 0], [-1, 1]), [-1]), 'int32'), 3).toFloat() as tf.Tensor2D),
  parameters: () => [],
  layers: () => [],
  clone: () => echo,
  getWeights: () => [],
  setWeights: () => {},
  dispose: () => {},
};

let data: DatasetSplit;
const cost = { examples: 0, seconds: 0, retrainExamples: 0, retrainSeconds: 0 };
beforeAll(async () => {
  await tf.setBackend('cpu');
  (tf.backend() as { firstUse?: boolean }).firstUse = false; // no "install tfjs-node" banner
  const test = createExamples(Float32Array.of(0, 0, 1, 0, 2, 0, 2, 0), Int32Array.of(0, 1, 2, 0), [2]);
  data = { name: 'toy', train: test, test, numClasses: 3 };
});

describe('core/targeted-success', () => {
  it('is the fraction of targets predicted as their adversarial label', () => {
    // targets predicted 1, 2, 0, 2; adversarial labels 1, 0, 0, 1 → 2 of 4 hit; true labels 0, 2, 1, 2 → 2 still correct
    const artifacts = new Artifacts().set(TARGETED_POISON, {
      inputShape: [2],
      targetInputs: Float32Array.of(1, 0, 2, 0, 0, 0, 2, 0),
      trueLabels: Int32Array.of(0, 2, 1, 2),
      adversarialLabels: Int32Array.of(1, 0, 0, 1),
      poisonTargets: new Int32Array(0),
      baseInputs: new Float32Array(0),
      epsilon: 0.1,
    });
    const result = targetedSuccessMetric.create({}, context()).compute({ model: echo, role: 'poisoned', data, clean: data.train, poisons: data.train, artifacts, references: { poisoned: echo, retrained: echo }, cost }) as MetricResult;
    expect(result).toEqual({ value: 0.5, details: { targets: 4, stillCorrect: 0.5 } });
  });

  it('says which attack it needs when there are no targets', () => {
    expect(() => targetedSuccessMetric.create({}, context()).compute({ model: echo, role: 'poisoned', data, clean: data.train, poisons: data.train, artifacts: new Artifacts(), references: { poisoned: echo, retrained: echo }, cost })).toThrowErrorMatchingInlineSnapshot(
      `[Error: core/targeted-success needs targets: use a targeted attack such as core/witches-brew (no core/targeted-poison record was found).]`,
    );
  });
});

describe('core/accuracy', () => {
  it("reports the drop against the retrained model's accuracy", () => {
    // `echo` gets 3 of 4 test points right; `zero` (always class 0) gets 2 of 4.
    const zero: ClassifierModel = { ...echo, logits: (x) => tf.tidy(() => tf.oneHot(tf.zeros([x.shape[0]], 'int32'), 3).toFloat() as tf.Tensor2D) };
    const metric = accuracyMetric.create({ batchSize: 2 }, context());
    const base = { data, clean: data.train, poisons: data.train, artifacts: new Artifacts(), cost };
    const rows = metric.compute({ ...base, model: zero, role: 'poisoned', references: { poisoned: zero, retrained: echo } }) as MetricResult[];
    expect(rows).toEqual([
      { value: 0.5, details: { examples: 4 } },
      { name: 'drop', value: 0.25, details: { retrainedAccuracy: 0.75 } },
    ]);
    expect((metric.compute({ ...base, model: echo, role: 'retrained', references: { poisoned: zero, retrained: echo } }) as MetricResult[])[1].value).toBe(0);
  });
});
