/**
 * `@unlearn-bench/core/testing`: small real building blocks for testing plugins without the
 * built-in packages — a softmax-regression model, a Gaussian-blobs dataset and a plugin context.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createBudgetMeter } from '../budget.ts';
import { createExamples } from '../data.ts';
import { silentLogger } from '../logger.ts';
import type { Capability, ClassifierModel, ModelLayer } from '../model.ts';
import { defineDataset, defineModel } from '../plugin/define.ts';
import type { PluginContext } from '../plugin/types.ts';
import { createRng, type Rng } from '../rng.ts';

let instances = 0;

/** Softmax regression: logits = flatten(x) · W + b. A real, differentiable ClassifierModel. */
class LinearClassifier implements ClassifierModel {
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>(['parameters', 'input-gradients', 'layers']);
  private readonly weights: tf.Variable;
  private readonly bias: tf.Variable;

  constructor(readonly inputShape: readonly number[], readonly numClasses: number, values: readonly Float32Array[]) {
    const features = inputShape.reduce((a, b) => a * b, 1);
    instances += 1;
    this.weights = tf.tidy(() => tf.variable(tf.tensor2d(values[0], [features, numClasses]), true, `testing-linear-w-${instances}`));
    this.bias = tf.tidy(() => tf.variable(tf.tensor1d(values[1]), true, `testing-linear-b-${instances}`));
  }

  logits(inputs: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.matMul(tf.reshape(inputs, [inputs.shape[0], -1]), this.weights), this.bias));
  }

  parameters(): readonly tf.Variable[] {
    return [this.weights, this.bias];
  }

  layers(): readonly ModelLayer[] {
    return [
      {
        name: 'dense',
        parameters: [this.weights, this.bias],
        reinitialize: (rng: Rng) => this.setWeights(initialLinear(this.weights.shape[0], this.numClasses, rng)),
      },
    ];
  }

  clone(): ClassifierModel {
    return new LinearClassifier(this.inputShape, this.numClasses, this.getWeights());
  }

  getWeights(): Float32Array[] {
    return [this.weights.dataSync().slice() as Float32Array, this.bias.dataSync().slice() as Float32Array];
  }

  setWeights(values: readonly Float32Array[]): void {
    if (values.length !== 2 || values[0].length !== this.weights.size || values[1].length !== this.bias.size) {
      throw new RangeError('setWeights: expected [weights, bias] of matching sizes');
    }
    tf.tidy(() => {
      this.weights.assign(tf.tensor(values[0], this.weights.shape));
      this.bias.assign(tf.tensor(values[1], this.bias.shape));
    });
  }

  dispose(): void {
    this.weights.dispose();
    this.bias.dispose();
  }
}

function initialLinear(features: number, classes: number, rng: Rng): Float32Array[] {
  return [rng.normalArray(features * classes, 0.01), new Float32Array(classes)];
}

/** `testing/linear`: softmax regression, for tests. */
export const linearModel = defineModel<Record<string, never>>({
  id: 'linear',
  description: 'Softmax regression (testing kit).',
  capabilities: ['parameters', 'input-gradients', 'layers'],
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  create(_options, shape) {
    const features = shape.inputShape.reduce((a, b) => a * b, 1);
    return { build: (rng) => new LinearClassifier(shape.inputShape, shape.numClasses, initialLinear(features, shape.numClasses, rng)) };
  },
});

/** Options of `testing/blobs`. */
export interface BlobsOptions {
  /** Training points. @default 400 */
  readonly trainSize: number;
  /** Test points. @default 200 */
  readonly testSize: number;
  /** Feature dimension (≥ number of classes). @default 8 */
  readonly dimension: number;
  /** Distance of each class mean from the origin along its own axis. @default 3 */
  readonly separation: number;
}

/** `testing/blobs`: four Gaussian blobs, class c centred at `separation` · e_c. */
export const blobsDataset = defineDataset<BlobsOptions>({
  id: 'blobs',
  description: 'Four Gaussian blobs (testing kit).',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      trainSize: { type: 'integer', minimum: 8, default: 400, description: 'Training points.' },
      testSize: { type: 'integer', minimum: 4, default: 200, description: 'Test points.' },
      dimension: { type: 'integer', minimum: 4, default: 8, description: 'Feature dimension.' },
      separation: { type: 'number', minimum: 0, default: 3, description: 'Distance of class means from the origin.' },
    },
  },
  create(options, ctx) {
    const make = (count: number, rng: Rng) => {
      const labels = Int32Array.from({ length: count }, (_, i) => i % 4);
      const inputs = rng.normalArray(count * options.dimension, 1);
      for (let i = 0; i < count; i++) inputs[i * options.dimension + labels[i]] += options.separation;
      return createExamples(inputs, labels, [options.dimension]);
    };
    return { load: () => ({ name: 'blobs', train: make(options.trainSize, ctx.rng.fork('train')), test: make(options.testSize, ctx.rng.fork('test')), numClasses: 4 }) };
  },
});

/** A plugin context for tests: seeded rng, silent logger, cpu engine info, a meter with `limit`. */
export function createTestContext(seed = 0, limit?: number): PluginContext {
  return {
    rng: createRng(seed),
    logger: silentLogger,
    engine: { backend: 'cpu', reason: 'test context', threads: 1 },
    meter: createBudgetMeter(limit),
  };
}

/** Options of `testing/mlp`. */
export interface MlpTestOptions {
  /** Width of the hidden layer. @default 16 */
  readonly hidden: number;
}

/** Two dense layers (`dense1` + ReLU, `dense2`) on flattened inputs, for layer-wise methods. */
class TwoLayerClassifier implements ClassifierModel {
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>(['parameters', 'input-gradients', 'layers']);
  private readonly variables: tf.Variable[];
  private readonly shapes: readonly (readonly number[])[];

  constructor(readonly inputShape: readonly number[], readonly numClasses: number, private readonly hidden: number, values: readonly Float32Array[]) {
    const features = inputShape.reduce((a, b) => a * b, 1);
    this.shapes = [[features, hidden], [hidden], [hidden, numClasses], [numClasses]];
    instances += 1;
    this.variables = this.shapes.map((shape, i) => tf.tidy(() => tf.variable(tf.tensor(values[i], [...shape], 'float32'), true, `testing-mlp-${instances}-${i}`)));
  }

  logits(inputs: tf.Tensor): tf.Tensor2D {
    const [w1, b1, w2, b2] = this.variables;
    return tf.tidy(() => {
      const h = tf.relu(tf.add(tf.matMul(tf.reshape(inputs, [inputs.shape[0], -1]) as tf.Tensor2D, w1 as tf.Tensor2D), b1)) as tf.Tensor2D;
      return tf.add(tf.matMul(h, w2 as tf.Tensor2D), b2) as tf.Tensor2D;
    });
  }

  parameters(): readonly tf.Variable[] {
    return this.variables;
  }

  layers(): readonly ModelLayer[] {
    const features = this.shapes[0][0];
    const dense = (index: number, inputs: number, units: number): ModelLayer => ({
      name: `dense${index + 1}`,
      parameters: this.variables.slice(2 * index, 2 * index + 2),
      reinitialize: (rng: Rng) => {
        const [kernel, bias] = initialDense(inputs, units, rng);
        tf.tidy(() => {
          this.variables[2 * index].assign(tf.tensor(kernel, [inputs, units]));
          this.variables[2 * index + 1].assign(tf.tensor(bias, [units]));
        });
      },
    });
    return [dense(0, features, this.hidden), dense(1, this.hidden, this.numClasses)];
  }

  clone(): ClassifierModel {
    return new TwoLayerClassifier(this.inputShape, this.numClasses, this.hidden, this.getWeights());
  }

  getWeights(): Float32Array[] {
    return this.variables.map((v) => v.dataSync().slice() as Float32Array);
  }

  setWeights(values: readonly Float32Array[]): void {
    if (values.length !== this.variables.length || values.some((w, i) => w.length !== this.variables[i].size)) {
      throw new RangeError('setWeights: expected [kernel1, bias1, kernel2, bias2] of matching sizes');
    }
    tf.tidy(() => this.variables.forEach((v, i) => v.assign(tf.tensor(values[i].slice(), v.shape))));
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
  }
}

/** He-uniform kernel U(−√(6/fanIn), √(6/fanIn)) and a zero bias. */
function initialDense(inputs: number, units: number, rng: Rng): [Float32Array, Float32Array] {
  const limit = Math.sqrt(6 / inputs);
  const kernel = new Float32Array(inputs * units);
  for (let i = 0; i < kernel.length; i++) kernel[i] = (2 * rng.next() - 1) * limit;
  return [kernel, new Float32Array(units)];
}

/** `testing/mlp`: a 2-layer ReLU network on raw TF.js variables, for tests of layer-wise methods. */
export const mlpTestModel = defineModel<MlpTestOptions>({
  id: 'mlp',
  description: 'Two-layer ReLU network (testing kit).',
  capabilities: ['parameters', 'input-gradients', 'layers'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { hidden: { type: 'integer', minimum: 1, default: 16, description: 'Width of the hidden layer.' } },
  },
  create(options, shape) {
    const features = shape.inputShape.reduce((a, b) => a * b, 1);
    return {
      build: (rng) => new TwoLayerClassifier(shape.inputShape, shape.numClasses, options.hidden, [...initialDense(features, options.hidden, rng), ...initialDense(options.hidden, shape.numClasses, rng)]),
    };
  },
});

// Conformance suites, one per contribution kind: `describe…Conformance` registers vitest suites,
// `check…` runs the same checks directly and returns the problems found.
export { describeUnlearnerConformance, checkUnlearner, unlearnerConformanceGroups } from './conformance.ts';
export type { UnlearnerConformanceOptions } from './conformance.ts';
export { describeAttackConformance, checkAttack, attackConformanceGroups, blobsData } from './conformance-attack.ts';
export type { AttackConformanceOptions, ConformanceData } from './conformance-attack.ts';
export { describeMetricConformance, checkMetric, metricConformanceGroups } from './conformance-metric.ts';
export type { ConformanceAttack, MetricConformanceOptions } from './conformance-metric.ts';
export { describeModelConformance, checkModel, modelConformanceGroups } from './conformance-model.ts';
export type { ModelConformanceOptions } from './conformance-model.ts';
export { describeDatasetConformance, checkDataset, datasetConformanceGroups } from './conformance-dataset.ts';
export type { DatasetConformanceOptions } from './conformance-dataset.ts';
export { ConformanceError, RestrictedModel, describeGroups, runGroups } from './conformance-common.ts';
export type { ConformanceCheck, ConformanceGroup, ConformanceModel, ConformanceModelChoice, ConformanceProblem, ConformanceRunOptions } from './conformance-common.ts';
