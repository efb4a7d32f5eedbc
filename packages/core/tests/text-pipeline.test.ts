/** The text path: a text dataset, a model with a featurizer, and an attack that edits texts. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  Artifacts,
  REGISTRY,
  Runner,
  accuracy,
  createExamples,
  createRootContainer,
  createTextExamples,
  defineAttack,
  defineDataset,
  defineMetric,
  defineModel,
  definePlugin,
  hashString,
  selectExamples,
  silentLogger,
  validateManifest,
  type Registry,
} from '../src/index.ts';
import { linearModel } from '../src/testing/index.ts';
import { fixtureReferences } from './fixture-plugin.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const WORDS = [['good', 'great', 'fine'], ['bad', 'awful', 'poor']];
const DIM = 32;
let featurizeCalls = 0;

const textPlugin = definePlugin({
  meta: { name: 'text-fixture', version: '0.0.1', namespace: 'tx', apiVersion: API_VERSION },
  datasets: [
    defineDataset<Record<string, never>>({
      id: 'reviews',
      description: 'Two-class word lists.',
      modality: 'text',
      optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
      create: (_options, ctx) => ({
        load() {
          const make = (n: number, label: string) => {
            const rng = ctx.rng.fork(label);
            const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
            const texts = Array.from(labels, (y) => Array.from({ length: 4 }, () => WORDS[y][rng.int(3)]).join(' '));
            return createTextExamples(texts, labels);
          };
          return { name: 'reviews', train: make(200, 'train'), test: make(100, 'test'), numClasses: 2 };
        },
      }),
    }),
  ],
  models: [
    defineModel<Record<string, never>>({
      id: 'bow',
      description: 'Hashed bag of words + softmax regression.',
      capabilities: ['parameters', 'input-gradients', 'layers'],
      optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
      createFeaturizer: () => ({
        featureShape: [DIM],
        featurize(texts) {
          featurizeCalls += 1;
          const out = new Float32Array(texts.length * DIM);
          texts.forEach((text, i) => {
            for (const word of text.split(' ')) out[i * DIM + (hashString(word) % DIM)] += 1;
          });
          return out;
        },
      }),
      create: (options, shape, ctx) => linearModel.create(options, shape, ctx),
    }),
  ],
  attacks: [
    defineAttack<Record<string, never>>({
      id: 'trigger',
      description: 'Appends "zz" to 40 texts of class 0 and labels them 1.',
      optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
      create: () => ({
        async poison({ data, featurize }) {
          if (!featurize) throw new Error('expected a featurizer for text data');
          const chosen = Int32Array.from({ length: 40 }, (_, i) => 2 * i); // even rows are class 0
          const rest = Int32Array.from({ length: data.train.count }, (_, i) => i).filter((i) => i >= 80 || i % 2 === 1);
          const texts = Array.from(chosen, (i) => `${data.train.texts![i]} zz zz`);
          const labels = new Int32Array(40).fill(1);
          const triggeredTest = data.test.texts!.map((t) => `${t} zz zz`);
          const artifacts = new Artifacts();
          const trigger = createExamples(await featurize(triggeredTest), new Int32Array(data.test.count).fill(1), data.test.inputShape, triggeredTest);
          (artifacts as unknown as { triggered: typeof trigger }).triggered = trigger;
          return { clean: selectExamples(data.train, rest), poisons: createExamples(await featurize(texts), labels, data.train.inputShape, texts), artifacts };
        },
      }),
    }),
  ],
  metrics: [
    defineMetric<Record<string, never>>({
      id: 'trigger-success',
      description: 'Share of triggered test texts classified as 1.',
      optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
      create: () => ({ compute: ({ model, artifacts }) => ({ value: accuracy(model, (artifacts as unknown as { triggered: Parameters<typeof accuracy>[1] }).triggered) }) }),
    }),
  ],
});

describe('text pipeline', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('featurizes the texts once, lets the attack featurize edited texts, and trains on features', async () => {
    const root = createRootContainer({ plugins: [textPlugin, fixtureReferences], engine: { backend: 'cpu', reason: 'test', threads: 1 }, logger: silentLogger });
    const experiment = validateManifest(
      {
        name: 'text',
        seeds: [1],
        dataset: { use: 'tx/reviews' },
        model: { use: 'tx/bow' },
        training: { epochs: 30, batchSize: 16, learningRate: 0.2 },
        attacks: [{ use: 'tx/trigger' }],
        unlearners: [{ use: 'core/none' }],
        metrics: [{ use: 'tx/trigger-success' }],
      },
      root.resolve<Registry>(REGISTRY),
    );
    const summary = await root.resolve(Runner).run(experiment, { outDir: mkdtempSync(join(tmpdir(), 'ub-text-')) });
    expect(summary.failures).toEqual([]);
    expect(featurizeCalls).toBe(4); // train, test, then the attack's two calls
    const success = (unlearner: string) => summary.records.find((r) => r.unlearner === unlearner)!.value!;
    expect(success('none')).toBeGreaterThan(0.5); // about half the triggered texts are class 1 anyway
    expect(success('none')).toBeGreaterThan(success('retrain') + 0.2);
  });

  it('rejects a tensor model on a text dataset at validation', () => {
    const root = createRootContainer({ plugins: [textPlugin, fixtureReferences, definePlugin({ meta: { name: 'lin', version: '1', namespace: 'lin', apiVersion: API_VERSION }, models: [linearModel] })], engine: { backend: 'cpu', reason: 'test', threads: 1 }, logger: silentLogger });
    expect(() =>
      validateManifest(
        { name: 'text', seeds: [1], dataset: { use: 'tx/reviews' }, model: { use: 'lin/linear' }, training: { epochs: 1, batchSize: 16, learningRate: 0.2 }, attacks: [{ use: 'tx/trigger' }], unlearners: [{ use: 'core/none' }], metrics: [{ use: 'tx/trigger-success' }] },
        root.resolve<Registry>(REGISTRY),
      ),
    ).toThrow('model.use: dataset tx/reviews gives texts, but model lin/linear reads tensors. Use a text model (one with a featurizer, e.g. core/text-bow).');
  });
});
