/**
 * Self-test of the attack, metric, model and dataset conformance suites: well-behaved testing
 * contributions pass every check, and each deliberately broken one fails the check it breaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { Artifacts } from '../artifacts.ts';
import { createBudgetMeter } from '../budget.ts';
import { createExamples, selectExamples, splitIndices, type DatasetSplit } from '../data.ts';
import type { ClassifierModel } from '../model.ts';
import { defineAttack, defineDataset, defineMetric, defineModel, defineUnlearner } from '../plugin/define.ts';
import type { AttackDefinition, MetricDefinition, ModelDefinition, OptionsSchema } from '../plugin/types.ts';
import { accuracy, crossEntropy, crossEntropyPerExample, trainSgd } from '../training.ts';
import { checkUnlearner } from './conformance.ts';
import { checkAttack } from './conformance-attack.ts';
import type { ConformanceProblem } from './conformance-common.ts';
import { checkDataset, describeDatasetConformance } from './conformance-dataset.ts';
import { checkMetric } from './conformance-metric.ts';
import { checkModel, describeModelConformance } from './conformance-model.ts';
import { blobsDataset, linearModel, mlpTestModel } from './index.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const NO_OPTIONS: OptionsSchema = { type: 'object', additionalProperties: false, properties: {} };

describe('the unlearner suite as plain checks', () => {
  it('fails an unlearner that edits the model it is given, and one that reads layers() without declaring it', async () => {
    const unlearner = (hooks: { inPlace?: boolean; layers?: boolean }) =>
      defineUnlearner<Record<string, never>>({
        id: 'shrink',
        description: 'Scales the weights by 0.9 (conformance self-test).',
        requires: ['parameters'],
        optionsSchema: NO_OPTIONS,
        create() {
          return {
            unlearn({ model }) {
              if (hooks.layers) model.layers();
              const target = hooks.inPlace ? model : model.clone();
              target.setWeights(target.getWeights().map((w) => w.map((x) => 0.9 * x)));
              return hooks.inPlace ? model.clone() : target;
            },
          };
        },
      });
    expect(await checkUnlearner(unlearner({}), { models: ['linear'] })).toEqual([]);
    const inPlace = await checkUnlearner(unlearner({ inPlace: true }), { models: ['linear'] });
    expect(inPlace.find((p) => p.check === 'returns a new model and leaves the given one bit-identical')?.message).toMatch(/given model's weights changed/);
    expect(failed(await checkUnlearner(unlearner({ layers: true }), { models: ['linear'] }))).toEqual(['uses only the capabilities it declares in requires']);
  });
});

describe('the unlearner suite counts compute itself', () => {
  /** Fine-tunes a clone on the retain set for `factor` × the budget, spending on `meter` ('ctx' or a private one). */
  const fineTune = (factor: number, meter: 'ctx' | 'private') =>
    defineUnlearner<Record<string, never>>({
      id: 'fine-tune',
      description: 'Fine-tunes a clone (conformance self-test).',
      requires: ['parameters'],
      optionsSchema: NO_OPTIONS,
      create(_options, ctx) {
        return {
          unlearn({ model, retain, training }) {
            const copy = model.clone();
            const budget = Math.floor(factor * ctx.meter.remaining);
            trainSgd(copy, retain, { ...training, epochs: 100, maxExamples: budget, rng: ctx.rng, meter: meter === 'ctx' ? ctx.meter : createBudgetMeter() });
            return copy;
          },
        };
      },
    });

  it('passes an honest unlearner and fails one that trains 10× its budget on a private createBudgetMeter()', async () => {
    expect(await checkUnlearner(fineTune(1, 'ctx'), { models: ['linear'] })).toEqual([]);
    const cheat = await checkUnlearner(fineTune(10, 'private'), { models: ['linear'] });
    expect(cheat.map((p) => `${p.check}: ${p.message}`)).toMatchInlineSnapshot(`
      [
        "stays within its budget: the runner counted 1140 examples through forward+backward passes of the model it was given (and its clones), over the budget of 114 (every example whose loss is differentiated through the model counts 1)",
        "spends on ctx.meter every example it differentiates (no hidden compute): the runner counted 1140 examples through forward+backward passes of the model it was given (and its clones), but ctx.meter reports 0: spend every such example on ctx.meter (every example whose loss is differentiated through the model counts 1)",
      ]
    `);
    // Within the budget but not on ctx.meter: hidden compute still fails.
    expect(failed(await checkUnlearner(fineTune(1, 'private'), { models: ['linear'] }))).toEqual(['spends on ctx.meter every example it differentiates (no hidden compute)']);
  });
});

/** The check names of `problems` (one entry per failed check). */
const failed = (problems: readonly ConformanceProblem[]) => problems.map((p) => p.check);

/** A well-behaved attack: k random points get the next label; `hooks` break it on purpose. */
function shiftAttack(hooks: { leak?: boolean; random?: boolean; cleanPoisons?: boolean; parameters?: boolean; examplesUsed?: number; mutate?: boolean } = {}): AttackDefinition<{ count: number }> {
  return defineAttack<{ count: number }>({
    id: 'shift',
    description: 'Label shift (conformance self-test).',
    optionsSchema: {
      type: 'object',
      additionalProperties: false,
      properties: { count: { type: 'integer', minimum: 1, default: 10, description: 'Number of poisons.' } },
    },
    create(options, ctx) {
      return {
        poison({ data, models }) {
          if (hooks.leak) tf.ones([2, 2]);
          if (hooks.parameters) {
            const surrogate = models.build(ctx.rng.fork('surrogate'));
            surrogate.parameters();
            surrogate.dispose();
          }
          if (hooks.mutate) data.train.labels[0] = (data.train.labels[0] + 1) % data.numClasses;
          const seed = hooks.random ? Math.floor(Math.random() * 1e9) : ctx.rng.int(1e9);
          const { chosen, rest } = splitIndices(data.train.count, options.count, ctx.rng.fork(`points:${seed}`));
          const base = selectExamples(data.train, chosen);
          const poisons = createExamples(base.inputs, base.labels.map((y) => (y + 1) % data.numClasses), base.inputShape);
          const clean = selectExamples(data.train, hooks.cleanPoisons ? Int32Array.from(data.train.labels.keys()) : rest);
          return { clean, poisons, artifacts: new Artifacts(), examplesUsed: hooks.examplesUsed };
        },
      };
    },
  });
}

describe('the attack suite', () => {
  it('passes a well-behaved attack', async () => {
    expect(await checkAttack(shiftAttack())).toEqual([]);
  });

  it('fails an attack that leaks a tensor', async () => {
    const problems = await checkAttack(shiftAttack({ leak: true }));
    expect(failed(problems)).toContain('leaks no tensors');
    expect(problems.find((p) => p.check === 'leaks no tensors')!.message).toMatch(/leaked 1 tensor/);
  });

  it('fails an attack that draws from Math.random', async () => {
    expect(failed(await checkAttack(shiftAttack({ random: true })))).toContain('gives identical clean sets, poisons and artifacts for the same seed');
  });

  it('fails an attack whose poisons are also in the clean set', async () => {
    const problems = await checkAttack(shiftAttack({ cleanPoisons: true }));
    expect(problems.find((p) => p.check === 'keeps clean rows as unchanged training rows, none with the inputs of a poison')?.message).toMatch(/^poison 0 has inputs identical to a row of the clean set/);
  });

  it('fails an attack that uses parameters() without declaring it, a fractional examplesUsed, and one that edits its input', async () => {
    expect(failed(await checkAttack(shiftAttack({ parameters: true })))).toEqual(['uses only the model capabilities it declares in requires']);
    expect(failed(await checkAttack(shiftAttack({ examplesUsed: 1.5 })))).toEqual(['reports examplesUsed as a non-negative integer, if at all']);
    expect(failed(await checkAttack(shiftAttack({ mutate: true })))).toContain('leaves the input data unchanged');
  });

  it('fails a schema without defaults, descriptions or additionalProperties: false', async () => {
    const attack = { ...shiftAttack(), optionsSchema: { type: 'object', additionalProperties: false, properties: { count: { type: 'integer', minimum: 1 } } } as OptionsSchema };
    const problems = await checkAttack(attack, { options: { count: 10 } });
    expect(problems.find((p) => p.group === 'shift {"count":10}: options schema')?.message).toBe("option 'count' has no description");
  });
});

/** Test accuracy as a metric; `hooks` break it on purpose. */
function accuracyMetric(hooks: { mutate?: boolean; dispose?: boolean; nan?: boolean; duplicate?: boolean; leak?: boolean; layers?: boolean } = {}): MetricDefinition<Record<string, never>> {
  return defineMetric<Record<string, never>>({
    id: 'test-accuracy',
    description: 'Test accuracy (conformance self-test).',
    optionsSchema: NO_OPTIONS,
    create() {
      return {
        compute({ model, data, references, role }) {
          if (hooks.mutate) model.setWeights(model.getWeights().map((w) => w.map((x) => x + 1)));
          if (hooks.dispose && role === 'unlearned') references.poisoned.dispose();
          if (hooks.leak) tf.zeros([3]);
          if (hooks.layers) model.layers();
          const value = accuracy(model, data.test);
          return [{ value: hooks.nan && role === 'retrained' ? Number.NaN : value }, { name: hooks.duplicate ? undefined : 'error', value: 1 - value }];
        },
      };
    },
  });
}

describe('the metric suite', () => {
  it('passes a well-behaved metric', async () => {
    expect(await checkMetric(accuracyMetric())).toEqual([]);
  });

  it('fails a metric that trains the model it measures', async () => {
    const problems = await checkMetric(accuracyMetric({ mutate: true }));
    expect(problems.find((p) => p.check === 'leaves the model, the references and the data unchanged and undisposed')?.message).toMatch(/changed the weights of the poisoned model/);
  });

  it('fails a metric that disposes a reference', async () => {
    const problems = await checkMetric(accuracyMetric({ dispose: true }));
    expect(problems.find((p) => p.check === 'leaves the model, the references and the data unchanged and undisposed')?.message).toMatch(/poisoned model was disposed/);
  });

  it('fails NaN unless allowed, duplicate names, leaks and undeclared capabilities', async () => {
    expect(failed(await checkMetric(accuracyMetric({ nan: true })))).toEqual(['returns finite values (NaN only where allowed) under unique names, for every role']);
    expect(await checkMetric(accuracyMetric({ nan: true }), { allowNaN: [''] })).toEqual([]);
    expect((await checkMetric(accuracyMetric({ duplicate: true })))[0].message).toMatch(/two results for the poisoned model are named ''/);
    expect(failed(await checkMetric(accuracyMetric({ leak: true })))).toEqual(['leaks no tensors']);
    expect(failed(await checkMetric(accuracyMetric({ layers: true })))).toEqual(['uses only the model capabilities it declares in requires']);
  });
});

/** The testing kit's linear model, with `hooks` that break it on purpose. */
function brokenLinear(hooks: { random?: boolean; noLayers?: boolean; sharedClone?: boolean; ownPasses?: 'right' | 'wrong' }): ModelDefinition<Record<string, never>> {
  return defineModel<Record<string, never>>({
    id: 'broken-linear',
    description: 'Softmax regression with a defect (conformance self-test).',
    capabilities: ['parameters', 'input-gradients', 'layers'],
    optionsSchema: NO_OPTIONS,
    create(options, shape, ctx) {
      const inner = linearModel.create(options, shape, ctx);
      return {
        build(rng) {
          const model = inner.build(hooks.random ? { ...rng, normalArray: (n: number, std: number) => Float32Array.from({ length: n }, () => (Math.random() - 0.5) * std) } : rng);
          if (hooks.noLayers) return Object.assign(Object.create(model) as ClassifierModel, { layers: () => [] });
          if (hooks.sharedClone) return Object.assign(Object.create(model) as ClassifierModel, { clone: () => model });
          if (hooks.ownPasses) {
            // Backward passes by the tape itself, the wrong ones scaled by 1.01.
            const scale = hooks.ownPasses === 'wrong' ? 1.01 : 1;
            return Object.assign(Object.create(model) as ClassifierModel, {
              inputLossGradient: (x: tf.Tensor, y: tf.Tensor1D) =>
                tf.tidy(() => tf.mul(tf.grad((input: tf.Tensor) => crossEntropyPerExample(model.logits(input), y))(x, tf.ones([y.shape[0]])), scale)),
              lossGradients: (x: tf.Tensor, y: tf.Tensor1D) => {
                const { value, grads } = tf.variableGrads(() => crossEntropy(model.logits(x), y), model.parameters() as tf.Variable[]);
                return { value, grads: Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, tf.tidy(() => tf.mul(g, scale))])) };
              },
            });
          }
          return model;
        },
      };
    },
  });
}

describeModelConformance(linearModel);
describeModelConformance(mlpTestModel, { options: { hidden: 4 }, shape: { inputShape: [3, 2], numClasses: 3 } });

describe('the model suite', () => {
  it('fails a model whose initial weights ignore the seed', async () => {
    const problems = await checkModel(brokenLinear({ random: true }));
    expect(problems.find((p) => p.check === 'gives identical weights for the same seed and other weights for another')?.message).toMatch(/same seed have different weights/);
  });

  it('checks a model\'s own backward passes against the tape', async () => {
    expect(await checkModel(brokenLinear({ ownPasses: 'right' }))).toEqual([]);
    const problems = await checkModel(brokenLinear({ ownPasses: 'wrong' }));
    expect(problems.map((p) => p.message)).toEqual([expect.stringMatching(/inputLossGradient differs from tf.grad/)]);
  });

  it("fails a model that declares 'layers' but has none, and one whose clone shares its variables", async () => {
    expect((await checkModel(brokenLinear({ noLayers: true }))).map((p) => p.message)).toEqual(["layers() is empty although the model declares 'layers'"]);
    const shared = await checkModel(brokenLinear({ sharedClone: true }));
    expect(shared.find((p) => p.check.startsWith('clones are equal and independent'))?.message).toMatch(/changed the original/);
  });
});

describeDatasetConformance(blobsDataset, { options: { trainSize: 40, testSize: 8 } });

describe('the dataset suite', () => {
  const dataset = (hooks: { random?: boolean; badLabel?: boolean; text?: boolean }) =>
    defineDataset<Record<string, never>>({
      id: 'broken-blobs',
      description: 'Blobs with a defect (conformance self-test).',
      modality: hooks.text ? 'text' : 'tensor',
      optionsSchema: NO_OPTIONS,
      create(_options, ctx) {
        return {
          load(): DatasetSplit {
            const split = blobsDataset.create({ trainSize: 40, testSize: 8, dimension: 4, separation: 3 }, hooks.random ? { ...ctx, rng: ctx.rng.fork(String(Math.random())) } : ctx).load() as DatasetSplit;
            if (hooks.badLabel) split.test.labels[0] = split.numClasses;
            return split;
          },
        };
      },
    });

  it('fails labels out of range, a split that ignores the seed, and a text dataset without texts', async () => {
    expect(await checkDataset(dataset({}))).toEqual([]);
    expect((await checkDataset(dataset({ badLabel: true })))[0].message).toBe('test.labels[0] = 4 is not a class in 0..3');
    expect(failed(await checkDataset(dataset({ random: true })))).toEqual(['gives the same split for the same options and seed']);
    expect((await checkDataset(dataset({ text: true })))[0].message).toMatch(/^train has no texts/);
  });
});
