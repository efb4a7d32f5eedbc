/**
 * A tiny but real plugin for testing the runner without the built-in packages: Gaussian blobs, a
 * softmax-regression model, a label-flip attack, a fine-tuning unlearner and accuracy.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  Artifacts,
  accuracy,
  createExamples,
  defineAttack,
  defineDataset,
  defineMetric,
  defineModel,
  definePlugin,
  defineUnlearner,
  selectExamples,
  splitIndices,
  trainSgd,
  type ClassifierModel,
  type Rng,
} from '../src/index.ts';

let counter = 0;

class Linear implements ClassifierModel {
  readonly capabilities = new Set(['parameters', 'input-gradients', 'layers'] as const);
  private readonly w: tf.Variable;
  private readonly b: tf.Variable;
  constructor(readonly inputShape: readonly number[], readonly numClasses: number, weights: Float32Array[]) {
    const d = inputShape.reduce((a, b) => a * b, 1);
    counter += 1;
    this.w = tf.tidy(() => tf.variable(tf.tensor2d(weights[0], [d, numClasses]), true, `fixture-w-${counter}`));
    this.b = tf.tidy(() => tf.variable(tf.tensor1d(weights[1]), true, `fixture-b-${counter}`));
  }
  logits(x: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.matMul(tf.reshape(x, [x.shape[0], -1]), this.w), this.b));
  }
  parameters() {
    return [this.w, this.b];
  }
  layers() {
    return [{ name: 'dense', parameters: [this.w, this.b], reinitialize: (rng: Rng) => this.setWeights(initial(this.w.shape[0], this.numClasses, rng)) }];
  }
  clone(): ClassifierModel {
    return new Linear(this.inputShape, this.numClasses, this.getWeights());
  }
  getWeights() {
    return [this.w.dataSync().slice() as Float32Array, this.b.dataSync().slice() as Float32Array];
  }
  setWeights(weights: readonly Float32Array[]) {
    tf.tidy(() => {
      this.w.assign(tf.tensor(weights[0], this.w.shape));
      this.b.assign(tf.tensor(weights[1], this.b.shape));
    });
  }
  dispose() {
    this.w.dispose();
    this.b.dispose();
  }
}

function initial(d: number, c: number, rng: Rng): Float32Array[] {
  return [rng.normalArray(d * c, 0.01), new Float32Array(c)];
}

export const fixturePlugin = definePlugin({
  meta: { name: 'fixture', version: '0.0.1', namespace: 'fx', apiVersion: API_VERSION },
  datasets: [
    defineDataset<{ n: number }>({
      id: 'blobs',
      description: 'Four Gaussian blobs in 8 dimensions.',
      optionsSchema: { type: 'object', additionalProperties: false, properties: { n: { type: 'integer', minimum: 8, default: 400, description: 'training points' } } },
      create(options, ctx) {
        return {
          load() {
            const make = (n: number, rng: Rng) => {
              const labels = Int32Array.from({ length: n }, (_, i) => i % 4);
              const inputs = rng.normalArray(n * 8, 1);
              for (let i = 0; i < n; i++) inputs[i * 8 + labels[i]] += 3;
              return createExamples(inputs, labels, [8]);
            };
            return { name: 'blobs', train: make(options.n, ctx.rng.fork('train')), test: make(200, ctx.rng.fork('test')), numClasses: 4 };
          },
        };
      },
    }),
  ],
  models: [
    defineModel<Record<string, never>>({
      id: 'linear',
      description: 'Softmax regression.',
      capabilities: ['parameters', 'input-gradients', 'layers'],
      optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
      create(_options, shape) {
        const d = shape.inputShape.reduce((a, b) => a * b, 1);
        return { build: (rng) => new Linear(shape.inputShape, shape.numClasses, initial(d, shape.numClasses, rng)) };
      },
    }),
  ],
  attacks: [
    defineAttack<{ count: number; fail: boolean }>({
      id: 'flip',
      description: 'Flips the labels of count points to class 0.',
      optionsSchema: {
        type: 'object',
        additionalProperties: false,
        properties: {
          count: { type: 'integer', minimum: 1, default: 40, description: 'poisons' },
          fail: { type: 'boolean', default: false, description: 'throw (for failure tests)' },
        },
      },
      create(options, ctx) {
        return {
          poison({ data }) {
            if (options.fail) throw new Error('boom');
            const { chosen, rest } = splitIndices(data.train.count, options.count, ctx.rng);
            const picked = selectExamples(data.train, chosen);
            const poisons = createExamples(picked.inputs, new Int32Array(options.count), picked.inputShape);
            return { clean: selectExamples(data.train, rest), poisons, artifacts: new Artifacts() };
          },
        };
      },
    }),
  ],
  unlearners: [
    defineUnlearner<{ fail: boolean; overspend: boolean }>({
      id: 'finetune',
      description: 'Fine-tunes on the retain set within the budget.',
      requires: ['parameters'],
      optionsSchema: {
        type: 'object',
        additionalProperties: false,
        properties: {
          fail: { type: 'boolean', default: false, description: 'throw (for failure tests)' },
          overspend: { type: 'boolean', default: false, description: 'ignore the budget (for budget tests)' },
        },
      },
      create(options, ctx) {
        return {
          unlearn({ model, retain, training }) {
            if (options.fail) throw new Error('unlearner exploded');
            const copy = model.clone();
            const maxExamples = options.overspend ? undefined : ctx.meter.remaining;
            trainSgd(copy, retain, { ...training, epochs: options.overspend ? 50 : 100, maxExamples, rng: ctx.rng, meter: ctx.meter });
            return copy;
          },
        };
      },
    }),
  ],
  metrics: [
    defineMetric<Record<string, never>>({
      id: 'accuracy',
      description: 'Test accuracy.',
      optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
      create: () => ({ compute: ({ model, data }) => ({ value: accuracy(model, data.test) }) }),
    }),
    defineMetric<Record<string, never>>({
      id: 'poison-rate',
      description: 'Fraction of poisons predicted as their (flipped) label, and a control.',
      optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
      create: () => ({
        compute: ({ model, poisons, clean }) => [
          { value: accuracy(model, poisons), details: { count: poisons.count } },
          { name: 'clean', value: accuracy(model, clean) },
        ],
      }),
    }),
  ],
});

/** The fixture's `none` and `retrain` references, registered like the real ones. */
export const fixtureReferences = definePlugin({
  meta: { name: 'fixture-references', version: '0.0.1', namespace: 'core', apiVersion: API_VERSION },
  unlearners: [
    defineUnlearner<Record<string, never>>({
      id: 'none',
      description: 'poisoned model',
      reference: 'poisoned',
      optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
      create: () => ({ unlearn: ({ model }) => model.clone() }),
    }),
  ],
});
