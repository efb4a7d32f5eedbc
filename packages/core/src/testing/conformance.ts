/**
 * The conformance suite every unlearner runs (built-in or plugin), in the spirit of ESLint's
 * RuleTester: the options schema compiles with core's shared ajv, defaults validate, a bad option
 * fails with a readable message, the same seed gives the same weights, no tensor leaks, the budget
 * is honoured (by ctx.meter and by the runner's own count of the examples differentiated through the
 * model and its clones, which ctx.meter must not fall short of), the given model is left alone, and
 * only the capabilities in `requires` are used.
 * The checks are plain functions (`unlearnerConformanceGroups`), so `checkUnlearner` can run them
 * outside vitest and return the problems found. Vitest is a peer dependency of this module.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createBudgetMeter } from '../budget.ts';
import { concatExamples, selectExamples, type DatasetSplit, type Examples } from '../data.ts';
import type { ClassifierModel } from '../model.ts';
import type { ModelDefinition, ModelFactory, TrainingRecipe, UnlearnerDefinition } from '../plugin/types.ts';
import { createRng } from '../rng.ts';
import { computeProblem, createComputeCounter } from '../runner/metered-model.ts';
import { trainSgd } from '../training.ts';
import {
  ConformanceError,
  RestrictedModel,
  describeGroups,
  ensure,
  ensureNoLeak,
  liveTensors,
  runGroups,
  sameValue,
  schemaChecks,
  validOptions,
  type ConformanceGroup,
  type ConformanceModel,
  type ConformanceProblem,
  type ConformanceRunOptions,
} from './conformance-common.ts';
import { blobsDataset, createTestContext, linearModel, mlpTestModel } from './index.ts';

export type { ConformanceModel } from './conformance-common.ts';

/** How `describeUnlearnerConformance` exercises an unlearner. */
export interface UnlearnerConformanceOptions<O> {
  /** Options to run with; the schema's defaults fill the rest. @default {} */
  readonly options?: ConformanceRunOptions<O>;
  /** Budget as a fraction of the retrained model's examples. @default 0.1 */
  readonly budget?: number;
  /** Testing-kit models to run on: softmax regression and a 2-layer MLP. @default ['linear', 'mlp'] */
  readonly models?: readonly ConformanceModel[];
}

const TRAINING: TrainingRecipe = { epochs: 3, batchSize: 16, learningRate: 0.1, momentum: 0.9, weightDecay: 0 };
const FORGET_COUNT = 20;

interface Fixture {
  readonly factory: ModelFactory;
  readonly poisoned: ClassifierModel;
  readonly forget: Examples;
  readonly retain: Examples;
  /** The budget in examples: `budget` × what retraining on `retain` uses. */
  readonly limit: number;
}

/** Defines a vitest suite checking that `definition` honours the unlearner contract. */
export function describeUnlearnerConformance<O>(definition: UnlearnerDefinition<O>, conformance: UnlearnerConformanceOptions<O> = {}): void {
  describeGroups(unlearnerConformanceGroups(definition, conformance));
}

/** Runs the unlearner conformance checks without vitest's collection; returns the failed ones. */
export function checkUnlearner<O>(definition: UnlearnerDefinition<O>, conformance: UnlearnerConformanceOptions<O> = {}): Promise<ConformanceProblem[]> {
  return runGroups(unlearnerConformanceGroups(definition, conformance));
}

/** The unlearner conformance checks, grouped by fixture. */
export function unlearnerConformanceGroups<O>(definition: UnlearnerDefinition<O>, conformance: UnlearnerConformanceOptions<O> = {}): ConformanceGroup[] {
  const budget = conformance.budget ?? 0.1;
  const id = conformance.options ? `${definition.id} ${JSON.stringify(conformance.options)}` : definition.id;
  const groups: ConformanceGroup[] = [{ title: `${id}: options schema`, checks: schemaChecks(definition, conformance.options, definition.requires, 'requires') }];

  for (const modelKind of conformance.models ?? ['linear', 'mlp']) {
    let fixture: Fixture | undefined;
    const run = (seed: number, model: ClassifierModel = fixture!.poisoned) => {
      const current = fixture!;
      const ctx = definition.reference === 'retrained' || definition.budget === 'unlimited' ? createTestContext(seed) : createTestContext(seed, current.limit);
      const worker = definition.create(validOptions<O>(definition, conformance.options), ctx);
      // As in the runner: the examples differentiated through the model and its clones are counted.
      const counter = createComputeCounter();
      const returned = counter.run(() => worker.unlearn({ model: counter.model(model), forget: current.forget, retain: current.retain, training: TRAINING, models: counter.factory(current.factory) }));
      if (returned instanceof Promise) throw new Error('conformance runs synchronous unlearners only; await support is not implemented');
      const result = counter.unwrap(returned);
      if (result === model) throw new ConformanceError(`${definition.id} returned the model it was given; return a new model (e.g. model.clone())`);
      return { ctx, worker, result, counted: counter.examples };
    };
    groups.push({
      title: `${id}: contract on the ${modelKind} testing model`,
      async setup() {
        await tf.ready();
        fixture = buildFixture(modelKind === 'linear' ? linearModel : mlpTestModel, budget);
      },
      teardown() {
        fixture?.poisoned.dispose();
      },
      checks: [
        {
          name: 'returns a new model and leaves the given one bit-identical',
          run() {
            const before = fixture!.poisoned.getWeights();
            const { result, worker } = run(11);
            ensure(sameValue(fixture!.poisoned.getWeights(), before), 'the given model\'s weights changed; unlearn a clone');
            ensure(result.getWeights().every((w) => w.every(Number.isFinite)), 'the returned model has weights that are not finite');
            result.dispose();
            worker.dispose?.();
          },
        },
        {
          name: 'gives identical weights for the same seed',
          run() {
            const weights = () => {
              const { result, worker } = run(12);
              const out = result.getWeights();
              result.dispose();
              worker.dispose?.();
              return out;
            };
            ensure(sameValue(weights(), weights()), 'two runs with the same seed gave different weights; draw randomness only from ctx.rng');
          },
        },
        {
          name: 'leaks no tensors',
          run() {
            const before = liveTensors();
            const { result, worker } = run(13);
            result.dispose();
            worker.dispose?.();
            ensureNoLeak(before, 'unlearn() with dispose() of the result and the worker');
          },
        },
        {
          name: 'stays within its budget',
          skip: definition.reference === 'retrained' ? 'the retrained reference is exempt from the budget' : definition.budget === 'unlimited' ? 'an unbudgeted reference row is exempt from the budget' : undefined,
          run() {
            const { ctx, result, worker, counted } = run(14);
            ensure(ctx.meter.used <= 1.05 * fixture!.limit, `used ${ctx.meter.used} examples, over the budget of ${fixture!.limit} (+5%)`);
            result.dispose();
            worker.dispose?.();
            const over = computeProblem(counted, Number.POSITIVE_INFINITY, fixture!.limit);
            ensure(over === undefined, over ?? '');
          },
        },
        {
          name: 'spends on ctx.meter every example it differentiates (no hidden compute)',
          run() {
            const { ctx, result, worker, counted } = run(16);
            result.dispose();
            worker.dispose?.();
            const hidden = computeProblem(counted, ctx.meter.used, Number.POSITIVE_INFINITY);
            ensure(hidden === undefined, hidden ?? '');
          },
        },
        {
          name: 'uses only the capabilities it declares in requires',
          run() {
            const restricted = RestrictedModel.declaring(fixture!.poisoned.clone(), definition.requires);
            try {
              const { result, worker } = run(15, restricted);
              result.dispose();
              worker.dispose?.();
            } finally {
              restricted.dispose();
            }
          },
        },
      ],
    });
  }
  return groups;
}

/** Blobs with 20 label-shifted "poisons" as the forget set, and a model trained on both. */
function buildFixture(model: ModelDefinition<never>, budget: number): Fixture {
  const ctx = createTestContext(1);
  const data = blobsDataset.create({ trainSize: 400, testSize: 40, dimension: 8, separation: 3 }, ctx).load() as DatasetSplit;
  const indices = Int32Array.from({ length: data.train.count }, (_, i) => i);
  const picked = selectExamples(data.train, indices.subarray(0, FORGET_COUNT));
  const forget = { ...picked, labels: picked.labels.map((y) => (y + 1) % data.numClasses) };
  const retain = selectExamples(data.train, indices.subarray(FORGET_COUNT));
  const factory = model.create({ hidden: 16 } as never, { inputShape: data.train.inputShape, numClasses: data.numClasses }, ctx);
  const poisoned = factory.build(createRng(2));
  trainSgd(poisoned, concatExamples(retain, forget), { ...TRAINING, rng: createRng(3), meter: createBudgetMeter() });
  return { factory, poisoned, forget, retain, limit: Math.floor(budget * TRAINING.epochs * retain.count) };
}
