/**
 * The conformance suite of attacks, in the spirit of ESLint's RuleTester: the options schema, then
 * `poison()` on a small dataset — clean and poison sets of the dataset's shape with labels in range
 * and finite inputs, clean rows that are unchanged training rows and no poison identical to a clean
 * row, the same seed giving the same poisons and another seed other ones, the input data left
 * alone, no tensor leaks, a sane `examplesUsed`, and only the model capabilities in `requires`.
 * Vitest is a peer dependency of this module (testing only).
 */
import * as tf from '@tensorflow/tfjs-core';
import { defineArtifact } from '../artifacts.ts';
import type { DatasetSplit } from '../data.ts';
import type { AttackDefinition, PoisonResult, TrainingRecipe } from '../plugin/types.ts';
import {
  CONFORMANCE_TRAINING,
  conformanceFactory,
  describeGroups,
  ensure,
  ensureNoLeak,
  ensureNone,
  examplesProblems,
  liveTensors,
  restrictedFactory,
  rowKeys,
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
import { blobsDataset, createTestContext } from './index.ts';

/** Data a conformance run poisons or measures on. */
export interface ConformanceData {
  /** The split; for text data, with `texts` and their features (`inputs`) already computed. */
  readonly split: DatasetSplit;
  /** Text data only: recomputes features of edited texts (passed to attacks as `featurize`). */
  readonly featurize?: (texts: readonly string[]) => Promise<Float32Array>;
}

/** How `describeAttackConformance` exercises an attack. */
export interface AttackConformanceOptions<O> {
  /** Name of the suite in the test report. @default the id, followed by the options if given */
  readonly title?: string;
  /** Options to run with; the schema's defaults fill the rest. @default {} */
  readonly options?: ConformanceRunOptions<O>;
  /**
   * Makes the data to poison (called once per suite). @default testing/blobs, 200 training and 40
   * test points in 8 dimensions, 4 classes
   */
  readonly data?: () => ConformanceData | Promise<ConformanceData>;
  /** The model surrogate-based attacks build (`input.models`). @default 'linear' (testing kit) */
  readonly model?: ConformanceModelChoice;
  /** The training recipe given to the attack. @default 3 epochs, batch 16, learning rate 0.1 */
  readonly training?: TrainingRecipe;
  /** Whether another seed must give other poisons; false for attacks that ignore the rng. @default true */
  readonly seedDependent?: boolean;
}

/** Default data of the attack and metric suites: four Gaussian blobs. */
export function blobsData(): ConformanceData {
  return { split: blobsDataset.create({ trainSize: 200, testSize: 40, dimension: 8, separation: 3 }, createTestContext(1)).load() as DatasetSplit };
}

/** Defines a vitest suite checking that `definition` honours the attack contract. */
export function describeAttackConformance<O>(definition: AttackDefinition<O>, conformance: AttackConformanceOptions<O> = {}): void {
  describeGroups(attackConformanceGroups(definition, conformance));
}

/** Runs the attack conformance checks without vitest's collection; returns the failed ones. */
export function checkAttack<O>(definition: AttackDefinition<O>, conformance: AttackConformanceOptions<O> = {}): Promise<ConformanceProblem[]> {
  return runGroups(attackConformanceGroups(definition, conformance));
}

/** The attack conformance checks, grouped by fixture. */
export function attackConformanceGroups<O>(definition: AttackDefinition<O>, conformance: AttackConformanceOptions<O> = {}): ConformanceGroup[] {
  const id = suiteTitle(definition, conformance.options, conformance.title);
  let data: ConformanceData | undefined;
  const results = new Map<number, PoisonResult>();

  /** Runs create + poison + dispose with `seed`; `restricted` models refuse undeclared capabilities. */
  const poison = async (seed: number, restricted = false): Promise<PoisonResult> => {
    const { split, featurize } = data!;
    const factory = conformanceFactory(conformance.model ?? 'linear', { inputShape: split.train.inputShape, numClasses: split.numClasses });
    const worker = definition.create(validOptions<O>(definition, conformance.options), createTestContext(seed));
    try {
      const models = restricted ? restrictedFactory(factory, definition.requires) : factory;
      return await worker.poison({ data: split, models, training: conformance.training ?? CONFORMANCE_TRAINING, ...(featurize ? { featurize } : {}) });
    } finally {
      worker.dispose?.();
    }
  };
  /** The result for `seed`, computed once. */
  const cached = async (seed: number): Promise<PoisonResult> => {
    if (!results.has(seed)) results.set(seed, await poison(seed));
    return results.get(seed)!;
  };

  return [
    { title: `${id}: options schema`, checks: schemaChecks(definition, conformance.options, definition.requires, 'requires') },
    {
      title: `${id}: poison() contract`,
      async setup() {
        await tf.ready();
        data = await (conformance.data ?? blobsData)();
      },
      teardown() {
        results.clear();
      },
      checks: [
        {
          name: "returns clean and poison sets of the dataset's shape, labels in range, finite inputs",
          async run() {
            const { split } = data!;
            const result = await cached(11);
            ensure(result && typeof result === 'object', 'poison() returned no result');
            const text = split.train.texts !== undefined;
            ensureNone([
              ...examplesProblems(result.clean, split.numClasses, 'clean', { texts: text }),
              ...examplesProblems(result.poisons, split.numClasses, 'poisons', { texts: text }),
            ]);
            for (const [name, part] of [['clean', result.clean], ['poisons', result.poisons]] as const) {
              ensure(part.inputShape.join('x') === split.train.inputShape.join('x'), `${name}.inputShape is [${part.inputShape.join(', ')}], the dataset's is [${split.train.inputShape.join(', ')}]`);
            }
            ensure(result.poisons.count >= 1, 'the poison set is empty; it is the forget set and must hold at least one example');
            ensure(result.clean.count >= 1, 'the clean set is empty');
            ensure(result.clean.count <= split.train.count, `the clean set has ${result.clean.count} rows, more than the ${split.train.count} training points`);
            ensure(result.artifacts !== undefined && typeof result.artifacts.get === 'function', 'artifacts is not an Artifacts value (use new Artifacts())');
          },
        },
        {
          name: 'keeps clean rows as unchanged training rows, none with the inputs of a poison',
          async run() {
            const { split } = data!;
            const result = await cached(11);
            const available = new Map<string, number>();
            for (const key of rowKeys(split.train)) available.set(key, (available.get(key) ?? 0) + 1);
            const cleanKeys = rowKeys(result.clean);
            cleanKeys.forEach((key, i) => {
              const left = available.get(key) ?? 0;
              ensure(left > 0, `clean row ${i} (label ${result.clean.labels[i]}) is not an unchanged training row (or is repeated more often than in the training set)`);
              available.set(key, left - 1);
            });
            const clean = new Set(rowKeys(result.clean, false));
            const shared = rowKeys(result.poisons, false).findIndex((key) => clean.has(key));
            ensure(shared < 0, `poison ${shared} has inputs identical to a row of the clean set; a training point is either kept clean or poisoned (remove the original from the clean set)`);
          },
        },
        {
          name: 'gives identical clean sets, poisons and artifacts for the same seed',
          async run() {
            const first = await cached(11);
            const again = await poison(11);
            ensure(sameValue(first.clean, again.clean), 'two runs with the same seed gave different clean sets; draw randomness only from ctx.rng');
            ensure(sameValue(first.poisons, again.poisons), 'two runs with the same seed gave different poisons; draw randomness only from ctx.rng');
            ensure(sameValue(first.artifacts.keys().sort(), again.artifacts.keys().sort()), `two runs with the same seed recorded artifacts [${first.artifacts.keys().join(', ')}] and [${again.artifacts.keys().join(', ')}]`);
            for (const key of first.artifacts.keys()) {
              ensure(sameValue(first.artifacts.get(defineArtifact(key)), again.artifacts.get(defineArtifact(key))), `two runs with the same seed recorded different '${key}' artifacts`);
            }
            ensure(sameValue(first.examplesUsed, again.examplesUsed), `two runs with the same seed reported examplesUsed ${first.examplesUsed} and ${again.examplesUsed}`);
          },
        },
        {
          name: 'gives other poisons for another seed',
          skip: conformance.seedDependent === false ? 'seedDependent: false' : undefined,
          async run() {
            const [a, b] = [await cached(11), await cached(12)];
            ensure(!sameValue(a.poisons, b.poisons), 'seeds 11 and 12 gave identical poisons; draw the random choices from ctx.rng (or pass seedDependent: false)');
          },
        },
        {
          name: 'reports examplesUsed as a non-negative integer, if at all',
          async run() {
            const { examplesUsed } = await cached(11);
            ensure(examplesUsed === undefined || (Number.isInteger(examplesUsed) && examplesUsed >= 0), `examplesUsed is ${examplesUsed}; report forward+backward examples as a non-negative integer`);
          },
        },
        {
          name: 'leaves the input data unchanged',
          async run() {
            const { split } = data!;
            const before = structuredClone(split);
            await poison(13);
            ensure(sameValue(split, before), 'poison() modified the dataset it was given; copy before editing (selectExamples copies)');
          },
        },
        {
          name: 'leaks no tensors',
          async run() {
            await cached(11); // the first run may build caches (kernels, data) that stay
            const before = liveTensors();
            await poison(14);
            ensureNoLeak(before, 'create() + poison() + dispose()');
          },
        },
        {
          name: 'uses only the model capabilities it declares in requires',
          async run() {
            await poison(15, true);
          },
        },
      ],
    },
  ];
}
