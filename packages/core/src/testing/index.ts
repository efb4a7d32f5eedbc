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
