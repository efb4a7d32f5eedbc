/**
 * The conformance suite of metrics: the options schema, then `compute()` on the poisoned, retrained
 * and unlearned models of a small cell — finite values (NaN only where the author allows it), unique
 * result names, the same numbers for the same seed, the models, references and data left alone (not
 * mutated, not disposed), no tensor leaks, and only the model capabilities in `requires`.
 * Vitest is a peer dependency of this module (testing only).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Artifacts } from '../artifacts.ts';
import { createBudgetMeter } from '../budget.ts';
import { concatExamples, selectExamples, type DatasetSplit, type Examples } from '../data.ts';
import type { ClassifierModel } from '../model.ts';
import type { AttackDefinition, Metric, MetricDefinition, MetricInput, MetricResult, ModelCost, ModelFactory, ModelRole, PoisonResult } from '../plugin/types.ts';
import { createRng } from '../rng.ts';
import { trainSgd } from '../training.ts';
import { blobsData, type ConformanceData } from './conformance-attack.ts';
import {
  CONFORMANCE_TRAINING,
  ConformanceError,
  RestrictedModel,
  conformanceFactory,
  describeGroups,
  ensure,
  ensureNoLeak,
  liveTensors,
  runGroups,
  sameValue,
  schemaChecks,
  suiteTitle,
  validOptions,
  type ConformanceGroup,
  type ConformanceModelChoice,
  type ConformanceProblem,
  type ConformanceRunOptions,
} from './conformance-common.ts';
import { createTestContext } from './index.ts';

/** An attack (and its options) whose poisons and artifacts a metric is measured with. */
export interface ConformanceAttack {
  readonly definition: AttackDefinition<never>;
  readonly options?: object;
}

/** How `describeMetricConformance` exercises a metric. */
export interface MetricConformanceOptions<O> {
  /** Name of the suite in the test report. @default the id, followed by the options if given */
  readonly title?: string;
  /** Options to run with; the schema's defaults fill the rest. @default {} */
  readonly options?: ConformanceRunOptions<O>;
  /**
   * The attack that makes the cell's poisons and artifacts (e.g. `core/gaussian` for a metric that
   * reads GAUSSIAN_NOISE). @default 20 training points with their label shifted y → y+1, no artifacts
   */
  readonly attack?: ConformanceAttack;
  /** Makes the data (called once per suite). @default testing/blobs, 200 + 40 points, 4 classes */
  readonly data?: () => ConformanceData | Promise<ConformanceData>;
  /** The model of the cell. @default 'linear' (testing kit) */
  readonly model?: ConformanceModelChoice;
  /**
   * Results that may be NaN (documented "not applicable" cases): `true` for all, or result names
   * (`''` for the unnamed main result). @default [] (every value must be finite)
   */
  readonly allowNaN?: boolean | readonly string[];
}

const ROLES: readonly ModelRole[] = ['poisoned', 'retrained', 'unlearned'];

interface MetricFixture {
  readonly data: DatasetSplit;
  readonly poison: PoisonResult;
  readonly models: Readonly<Record<ModelRole, ClassifierModel>>;
}

/** Defines a vitest suite checking that `definition` honours the metric contract. */
export function describeMetricConformance<O>(definition: MetricDefinition<O>, conformance: MetricConformanceOptions<O> = {}): void {
  describeGroups(metricConformanceGroups(definition, conformance));
}

/** Runs the metric conformance checks without vitest's collection; returns the failed ones. */
export function checkMetric<O>(definition: MetricDefinition<O>, conformance: MetricConformanceOptions<O> = {}): Promise<ConformanceProblem[]> {
  return runGroups(metricConformanceGroups(definition, conformance));
}

/** The label-shift "attack" used when none is given: 20 training points relabelled y → y+1. */
function labelShift(data: DatasetSplit): PoisonResult {
  const indices = Int32Array.from({ length: data.train.count }, (_, i) => i);
  const picked = selectExamples(data.train, indices.subarray(0, 20));
  return {
    clean: selectExamples(data.train, indices.subarray(20)),
    poisons: { ...picked, labels: picked.labels.map((y) => (y + 1) % data.numClasses) },
    artifacts: new Artifacts(),
  };
}

async function buildFixture(conformance: MetricConformanceOptions<unknown>): Promise<MetricFixture> {
  const { split: data, featurize } = await (conformance.data ?? blobsData)();
  const factory: ModelFactory = conformanceFactory(conformance.model ?? 'linear', { inputShape: data.train.inputShape, numClasses: data.numClasses });
  let poison: PoisonResult;
  if (conformance.attack) {
    const { definition, options } = conformance.attack;
    const worker = definition.create(validOptions<never>(definition, options), createTestContext(1));
    poison = await worker.poison({ data, models: factory, training: CONFORMANCE_TRAINING, ...(featurize ? { featurize } : {}) });
    worker.dispose?.();
  } else poison = labelShift(data);
  const train = (examples: Examples, seed: number) => {
    const model = factory.build(createRng(2));
    trainSgd(model, examples, { ...CONFORMANCE_TRAINING, rng: createRng(seed), meter: createBudgetMeter() });
    return model;
  };
  const poisoned = train(concatExamples(poison.clean, poison.poisons), 3);
  const retrained = train(poison.clean, 4);
  const unlearned = poisoned.clone();
  trainSgd(unlearned, poison.clean, { ...CONFORMANCE_TRAINING, epochs: 1, rng: createRng(5), meter: createBudgetMeter() });
  return { data, poison, models: { poisoned, retrained, unlearned } };
}

const COST: Readonly<Record<ModelRole, ModelCost>> = {
  poisoned: { examples: 660, seconds: 0.2, retrainExamples: 540, retrainSeconds: 0.2 },
  retrained: { examples: 540, seconds: 0.2, retrainExamples: 540, retrainSeconds: 0.2 },
  unlearned: { examples: 54, seconds: 0.02, retrainExamples: 540, retrainSeconds: 0.2 },
};

/** The metric's results for each role in order, from one worker (as the runner does for a group). */
async function computeAll(worker: Metric, fixture: MetricFixture, models: Readonly<Record<ModelRole, ClassifierModel>>): Promise<Record<ModelRole, MetricResult[]>> {
  const out = {} as Record<ModelRole, MetricResult[]>;
  const references = { poisoned: models.poisoned, retrained: models.retrained };
  for (const role of ROLES) {
    const input: MetricInput = {
      model: models[role],
      role,
      data: fixture.data,
      clean: fixture.poison.clean,
      poisons: fixture.poison.poisons,
      artifacts: fixture.poison.artifacts,
      references,
      cost: COST[role],
    };
    const results = await worker.compute(input);
    out[role] = Array.isArray(results) ? results : [results];
  }
  return out;
}

/** Clones of the fixture's models (so a misbehaving metric cannot spoil the other checks). */
function cloneModels(fixture: MetricFixture, wrap: (model: ClassifierModel) => ClassifierModel = (m) => m): Record<ModelRole, ClassifierModel> {
  return { poisoned: wrap(fixture.models.poisoned.clone()), retrained: wrap(fixture.models.retrained.clone()), unlearned: wrap(fixture.models.unlearned.clone()) };
}

function disposeModels(models: Readonly<Record<ModelRole, ClassifierModel>>): void {
  for (const model of Object.values(models)) model.dispose();
}

/** The metric conformance checks, grouped by fixture. */
export function metricConformanceGroups<O>(definition: MetricDefinition<O>, conformance: MetricConformanceOptions<O> = {}): ConformanceGroup[] {
  const id = suiteTitle(definition, conformance.options, conformance.title);
  let fixture: MetricFixture | undefined;
  /** Results of a fresh worker with `seed` on `models` (default: fresh clones of the fixture's). */
  const run = async (seed: number, models?: Readonly<Record<ModelRole, ClassifierModel>>) => {
    const own = models ? undefined : cloneModels(fixture!);
    const worker = definition.create(validOptions<O>(definition, conformance.options), createTestContext(seed));
    try {
      return await computeAll(worker, fixture!, models ?? own!);
    } finally {
      worker.dispose?.();
      if (own) disposeModels(own);
    }
  };
  const nanAllowed = (name: string) => conformance.allowNaN === true || (Array.isArray(conformance.allowNaN) && conformance.allowNaN.includes(name));

  return [
    { title: `${id}: options schema`, checks: schemaChecks(definition, conformance.options, definition.requires, 'requires') },
    {
      title: `${id}: compute() contract`,
      async setup() {
        await tf.ready();
        fixture = await buildFixture(conformance as MetricConformanceOptions<unknown>);
      },
      teardown() {
        for (const model of Object.values(fixture?.models ?? {})) model.dispose();
      },
      checks: [
        {
          name: 'returns finite values (NaN only where allowed) under unique names, for every role',
          async run() {
            const results = await run(11);
            for (const role of ROLES) {
              ensure(results[role].length > 0, `compute() returned no result for the ${role} model`);
              const names = new Set<string>();
              for (const result of results[role]) {
                const name = result.name ?? '';
                ensure(result.name === undefined || (typeof result.name === 'string' && result.name.length > 0), `a result name must be a non-empty string, got ${JSON.stringify(result.name)}`);
                ensure(!names.has(name), `two results for the ${role} model are named '${name}'; names must be unique (the unnamed main result at most once)`);
                names.add(name);
                ensure(typeof result.value === 'number', `result '${name}' for the ${role} model has a value of type ${typeof result.value}`);
                ensure(Number.isFinite(result.value) || (Number.isNaN(result.value) && nanAllowed(name)), `result '${name}' for the ${role} model is ${result.value}${Number.isNaN(result.value) ? ' (pass allowNaN to document where NaN is expected)' : ''}`);
                for (const [key, value] of Object.entries(result.details ?? {})) {
                  ensure(value === null || ['number', 'string', 'boolean'].includes(typeof value), `details.${key} of result '${name}' is a ${typeof value}; details hold numbers, strings, booleans or null`);
                }
              }
            }
          },
        },
        {
          name: 'gives identical results for the same seed',
          async run() {
            ensure(sameValue(await run(12), await run(12)), 'two workers with the same seed gave different results; draw randomness only from ctx.rng');
          },
        },
        {
          name: 'leaves the model, the references and the data unchanged and undisposed',
          async run() {
            const f = fixture!;
            const models = cloneModels(f);
            try {
              const weights = ROLES.map((role) => models[role].getWeights());
              const data = structuredClone({ data: f.data, clean: f.poison.clean, poisons: f.poison.poisons });
              await run(13, models);
              ROLES.forEach((role, i) => {
                let after: Float32Array[];
                try {
                  after = models[role].getWeights();
                } catch (error) {
                  throw new ConformanceError(`the ${role} model was disposed by compute(); never dispose the models you are given (${(error as Error).message})`, { cause: error });
                }
                ensure(sameValue(after, weights[i]), `compute() changed the weights of the ${role} model; measure a clone if you must train`);
              });
              ensure(sameValue({ data: f.data, clean: f.poison.clean, poisons: f.poison.poisons }, data), 'compute() modified the data, clean or poison set it was given');
            } finally {
              disposeModels(models);
            }
          },
        },
        {
          name: 'leaks no tensors',
          async run() {
            await run(14); // the first run may build caches (kernels) that stay
            const models = cloneModels(fixture!);
            try {
              const before = liveTensors();
              await run(14, models);
              ensureNoLeak(before, 'create() + compute() on every role + dispose()');
            } finally {
              disposeModels(models);
            }
          },
        },
        {
          name: 'uses only the model capabilities it declares in requires',
          async run() {
            const models = cloneModels(fixture!, (model) => RestrictedModel.declaring(model, definition.requires));
            try {
              await run(15, models);
            } finally {
              disposeModels(models);
            }
          },
        },
      ],
    },
  ];
}
