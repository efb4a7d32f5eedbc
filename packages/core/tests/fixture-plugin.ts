/**
 * A tiny but real plugin for testing the runner without the built-in packages: the testing kit's
 * blobs and softmax regression, a label-flip attack, a fine-tuning unlearner and accuracy.
 */
import {
  API_VERSION,
  Artifacts,
  createRootContainer,
  REGISTRY,
  silentLogger,
  type Registry,
  accuracy,
  createExamples,
  defineAttack,
  defineMetric,
  definePlugin,
  defineUnlearner,
  selectExamples,
  splitIndices,
  trainSgd,
} from '../src/index.ts';
import { blobsDataset, linearModel } from '../src/testing/index.ts';

export const fixturePlugin = definePlugin({
  meta: { name: 'fixture', version: '0.0.1', namespace: 'fx', apiVersion: API_VERSION },
  datasets: [blobsDataset],
  models: [linearModel],
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
    defineUnlearner<{ fail: boolean; overspend: boolean; nan: boolean; scale: number; mutate: boolean; exit: boolean }>({
      id: 'finetune',
      description: 'Fine-tunes on the retain set within the budget.',
      requires: ['parameters'],
      optionsSchema: {
        type: 'object',
        additionalProperties: false,
        properties: {
          fail: { type: 'boolean', default: false, description: 'throw (for failure tests)' },
          overspend: { type: 'boolean', default: false, description: 'ignore the budget (for budget tests)' },
          nan: { type: 'boolean', default: false, description: 'return NaN weights (for divergence tests)' },
          scale: { type: 'number', default: 1, description: 'multiply the weights by this (for divergence tests)' },
          mutate: { type: 'boolean', default: false, description: 'overwrite the retain inputs in place (for shared-data tests)' },
          exit: { type: 'boolean', default: false, description: 'call process.exit(0) (for stop tests)' },
        },
      },
      create(options, ctx) {
        return {
          unlearn({ model, retain, training }) {
            if (options.fail) throw new Error('unlearner exploded');
            if (options.exit) process.exit(0);
            const copy = model.clone();
            const maxExamples = options.overspend ? undefined : ctx.meter.remaining;
            trainSgd(copy, retain, { ...training, epochs: options.overspend ? 50 : 100, maxExamples, rng: ctx.rng, meter: ctx.meter });
            if (options.mutate) retain.inputs.fill(0, 0, retain.inputs.length / 2);
            if (options.nan || options.scale !== 1) copy.setWeights(copy.getWeights().map((w) => w.map((v) => (options.nan ? Number.NaN : v * options.scale))));
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

/** A registry of the core plugins and these fixtures, on the cpu backend. */
export function fixtureRegistry(): Registry {
  return createRootContainer({ plugins: [fixturePlugin, fixtureReferences], engine: { backend: 'cpu', reason: 'test', threads: 1 }, logger: silentLogger }).resolve<Registry>(REGISTRY);
}

/** A one-seed manifest of the fixtures with the given training recipe. */
export function fixtureManifest(training: object): object {
  return {
    name: 'fixture',
    seeds: [1],
    dataset: { use: 'fx/blobs' },
    model: { use: 'fx/linear' },
    training,
    attacks: [{ use: 'fx/flip' }],
    unlearners: [{ use: 'core/none' }, { use: 'fx/finetune' }],
    budgets: [0.05],
    metrics: [{ use: 'fx/accuracy' }],
  };
}
