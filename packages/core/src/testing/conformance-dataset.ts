/**
 * The conformance suite of datasets: the options schema, then `load()` — train and test sets of one
 * input shape, labels in [0, numClasses), finite inputs, row-aligned texts for text datasets, the
 * same split for the same options and seed, and no tensors left behind.
 * Vitest is a peer dependency of this module (testing only).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DatasetSplit } from '../data.ts';
import type { DatasetDefinition } from '../plugin/types.ts';
import {
  describeGroups,
  ensure,
  ensureNoLeak,
  ensureNone,
  examplesProblems,
  liveTensors,
  runGroups,
  sameValue,
  schemaChecks,
  suiteTitle,
  validOptions,
  type ConformanceGroup,
  type ConformanceProblem,
  type ConformanceRunOptions,
} from './conformance-common.ts';
import { createTestContext } from './index.ts';

/** How `describeDatasetConformance` exercises a dataset. */
export interface DatasetConformanceOptions<O> {
  /** Name of the suite in the test report. @default the id, followed by the options if given */
  readonly title?: string;
  /** Options to load with (keep them small); the schema's defaults fill the rest. @default {} */
  readonly options?: ConformanceRunOptions<O>;
}

/** Defines a vitest suite checking that `definition` honours the dataset contract. */
export function describeDatasetConformance<O>(definition: DatasetDefinition<O>, conformance: DatasetConformanceOptions<O> = {}): void {
  describeGroups(datasetConformanceGroups(definition, conformance));
}

/** Runs the dataset conformance checks without vitest's collection; returns the failed ones. */
export function checkDataset<O>(definition: DatasetDefinition<O>, conformance: DatasetConformanceOptions<O> = {}): Promise<ConformanceProblem[]> {
  return runGroups(datasetConformanceGroups(definition, conformance));
}

/** The dataset conformance checks, grouped by fixture. */
export function datasetConformanceGroups<O>(definition: DatasetDefinition<O>, conformance: DatasetConformanceOptions<O> = {}): ConformanceGroup[] {
  const id = suiteTitle(definition, conformance.options, conformance.title);
  const text = definition.modality === 'text';
  let loaded: DatasetSplit | undefined;
  const load = async (seed: number): Promise<DatasetSplit> => definition.create(validOptions<O>(definition, conformance.options), createTestContext(seed)).load();

  return [
    { title: `${id}: options schema`, checks: schemaChecks(definition, conformance.options) },
    {
      title: `${id}: load() contract`,
      async setup() {
        await tf.ready();
        loaded = await load(1);
      },
      checks: [
        {
          name: `returns non-empty train and test sets of one input shape, labels in range${text ? ', row-aligned texts' : ', finite inputs'}`,
          run() {
            const split = loaded!;
            ensure(typeof split.name === 'string' && split.name.length > 0, 'the split has no name');
            ensure(Number.isInteger(split.numClasses) && split.numClasses >= 2, `numClasses is ${split.numClasses}; a classification dataset has at least 2 classes`);
            ensureNone([...examplesProblems(split.train, split.numClasses, 'train', { texts: text }), ...examplesProblems(split.test, split.numClasses, 'test', { texts: text })]);
            ensure(split.train.count > 0 && split.test.count > 0, `train has ${split.train.count} and test ${split.test.count} examples; both must be non-empty`);
            ensure(split.train.inputShape.join('x') === split.test.inputShape.join('x'), `train inputShape [${split.train.inputShape.join(', ')}] differs from test [${split.test.inputShape.join(', ')}]`);
          },
        },
        {
          name: 'gives the same split for the same options and seed',
          async run() {
            ensure(sameValue(await load(1), loaded), 'two loads with the same options and seed differ; derive every random choice from the options or ctx.rng');
          },
        },
        {
          name: 'leaks no tensors',
          async run() {
            const before = liveTensors();
            await load(2);
            ensureNoLeak(before, 'create() + load()');
          },
        },
      ],
    },
  ];
}
